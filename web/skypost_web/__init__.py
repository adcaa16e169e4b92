"""SkyPost web app: REST API for the mobile app, orders, QR pickup; reaches ROS only through the bridge."""
from skypost_web.app import create_app

__all__ = ["create_app"]
