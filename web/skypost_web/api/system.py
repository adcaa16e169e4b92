"""/health (database, bridge, broker) and the local Swagger UI assets."""
from __future__ import annotations

import socket
from urllib.parse import urlparse

import swagger_ui_bundle
from apiflask import APIFlask
from flask import current_app, jsonify, send_from_directory
from sqlalchemy import text

from skypost_web.config import dispatch_transport
from skypost_web.errors import error_response
from skypost_web.extensions import db, limiter, ros

PROBE_TIMEOUT = 1.0


def _database() -> dict:
    try:
        db.session.execute(text("SELECT 1"))
        return {"ok": True, "detail": db.engine.dialect.name}
    except Exception as exc:
        db.session.rollback()
        return {"ok": False, "detail": type(exc).__name__}


def _reachable(url: str, default_port: int) -> dict:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT):
            return {"ok": True, "detail": f"{host}:{port} reachable"}
    except OSError as exc:
        return {"ok": False, "detail": f"{host}:{port}: {exc.strerror or exc}"}


def _bridge() -> dict:
    config = current_app.config
    if config["ROS_LINK"] == "none":
        return {"ok": False, "detail": "no ROS link configured", "required": False}
    link = ros.peek()
    if link is not None:
        return {"ok": link.connected(), "detail": "connected" if link.connected() else "reconnecting"}
    if config["ROS_LINK"] != "roslibpy":
        return {"ok": True, "detail": "not started in this process"}
    return _reachable(config["BRIDGE_URL"], 9090)


def _broker() -> dict | None:
    url = current_app.config["AMQP_URL"]
    if not url:
        return None
    return _reachable(url, 5672)


def register(app: APIFlask, prefix: str) -> None:
    assets = swagger_ui_bundle.swagger_ui_path

    @app.get("/health")
    @app.get(f"{prefix}/health")
    @app.doc(tags=["System"], responses={200: "Database reachable", 503: "The database is down"})
    @limiter.exempt
    def health():
        """Database, bridge and broker status; 503 when the database is down (ROS may be away: 200)."""
        checks = {"database": _database(), "bridge": _bridge()}
        broker = _broker()
        if broker is not None:
            checks["broker"] = broker
        report = {"status": "ok", "dispatch": dispatch_transport(current_app.config), "checks": checks}
        if not checks["database"]["ok"]:
            return error_response(503, "unhealthy", "the database is unreachable", fields=report)
        return jsonify({"success": True, "data": report, "error": None})

    @app.get(f"{prefix}/docs/assets/<path:filename>")
    @app.doc(hide=True)
    @limiter.exempt
    def docs_assets(filename: str):
        return send_from_directory(assets, filename)

