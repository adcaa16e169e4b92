"""SkyPost simulation: Clover-compatible drones, cameras and the site world."""
