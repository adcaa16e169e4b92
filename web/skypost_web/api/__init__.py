"""REST API /api/v1: one blueprint per resource; views parse, call a service function, serialise."""
from __future__ import annotations

from typing import Any

from apiflask import APIFlask

from skypost_web.errors import ApiError
from skypost_web.extensions import db
from skypost_web.schemas import MAX_ID

AUTH = "BearerAuth"


def ok(data: Any) -> dict[str, Any]:
    """The success envelope (APIFlask serialises `data` with the view's output schema)."""
    return {"success": True, "data": data, "error": None}


def get_or_404(model: type, key: Any, code: str, label: str) -> Any:
    if isinstance(key, int) and not 0 < key <= MAX_ID:
        raise ApiError(404, code, f"no {label} {key}")
    if isinstance(key, str) and (not key.isprintable() or len(key) > 64):
        raise ApiError(404, code, f"no such {label}")
    row = db.session.get(model, key)
    if row is None:
        raise ApiError(404, code, f"no {label} {key}")
    return row


def register_blueprints(app: APIFlask, prefix: str) -> None:
    from skypost_web.api import admin, auth, bridge, goods, lockers, orders, pickup, system

    for module in (auth, goods, lockers, orders, admin, pickup, bridge):
        app.register_blueprint(module.bp, url_prefix=prefix + module.PATH)
    system.register(app, prefix)
