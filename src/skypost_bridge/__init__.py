"""SkyPost bridge: a rosbridge-protocol v2 WebSocket server."""
