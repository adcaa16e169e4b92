"""SkyPost locker: rosserial host, cell inventory and QR pickup."""
