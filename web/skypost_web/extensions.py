"""Flask extensions, created unbound here and bound in create_app: db, migrate, jwt, limiter, cors, the ROS link."""
from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, current_app
from flask_cors import CORS
from flask_jwt_extended import JWTManager
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase

from skypost_web.ros.link import NoLink, RosLink


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
jwt = JWTManager()
# The default limit is read from the app being served, not captured at init_app: one limiter serves every app
# a process creates (tests, the CLI), and each app has its own RATE_LIMIT_DEFAULT.
limiter = Limiter(key_func=get_remote_address, default_limits=[lambda: current_app.config["RATE_LIMIT_DEFAULT"]])
cors = CORS()


class RosLinkExtension:
    """The ROS link as a Flask extension: one lazily created client per process, shared by its threads.

    The client is created at first use (never at import or in the gunicorn master, so forked workers each get
    their own) and recreated in a forked child. ROS_LINK in the config: roslibpy | fake | none, a RosLink instance
    or a factory taking the app config.
    """

    def __init__(self, app: Flask | None = None) -> None:
        self._lock = threading.Lock()
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        app.extensions["skypost_ros"] = {"link": None, "pid": None}

    def _build(self, config: dict[str, Any]) -> RosLink:
        choice = config["ROS_LINK"]
        if isinstance(choice, RosLink):
            return choice
        if callable(choice):
            return choice(config)
        if choice == "fake":
            from skypost_web.ros.fake import FakeRosLink

            return FakeRosLink()
        if choice == "roslibpy":
            from skypost_web.ros.roslibpy_link import RoslibpyLink

            return RoslibpyLink.from_config(config)
        return NoLink()

    def get(self, app: Flask | None = None) -> RosLink:
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        state = app.extensions["skypost_ros"]
        with self._lock:
            if state["link"] is None or state["pid"] != os.getpid():
                state["link"] = self._build(app.config)
                state["pid"] = os.getpid()
                state["link"].start()
            return state["link"]

    def peek(self, app: Flask | None = None) -> RosLink | None:
        """The link if this process already created one (health checks must not create it)."""
        app = app or current_app._get_current_object()  # type: ignore[attr-defined]
        state = app.extensions["skypost_ros"]
        return state["link"] if state["pid"] == os.getpid() else None

    def close(self, app: Flask) -> None:
        state = app.extensions["skypost_ros"]
        with self._lock:
            if state["link"] is not None and state["pid"] == os.getpid():
                state["link"].close()
            state["link"] = None


ros = RosLinkExtension()
