"""Short-lived bridge tokens for staff browsers (the admin panel talks to the bridge with roslibjs)."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import current_user

from skypost_web.api import AUTH, ok
from skypost_web.schemas import BridgeTokenOut
from skypost_web.security import bridge_token, roles_required

PATH = "/bridge"
bp = APIBlueprint("bridge", __name__, tag="Bridge")


@bp.post("/token")
@bp.output(BridgeTokenOut)
@bp.doc(security=AUTH, responses=[403])
@roles_required("admin", "operator")
def token():
    """An HS256 token (`sub`, `role`, `exp`) to send as `mac` in the rosbridge `auth` op."""
    config = current_app.config
    value, expires = bridge_token(config["BRIDGE_SECRET"], current_user.username, current_user.role,
                                  config["BRIDGE_TOKEN_TTL"])
    return ok({"token": value, "expires_at": expires, "url": config["BRIDGE_URL"], "role": current_user.role})
