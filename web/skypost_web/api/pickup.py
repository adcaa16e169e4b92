"""Pickup-code validation for locker devices over REST (the same logic serves /skypost/validate_pickup)."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import current_user

from skypost_web.api import AUTH, ok
from skypost_web.errors import ApiError
from skypost_web.extensions import db, limiter
from skypost_web.schemas import PickupIn, PickupOut
from skypost_web.security import roles_required
from skypost_web.services.context import pickup_validator

PATH = "/pickup"
bp = APIBlueprint("pickup", __name__, tag="Pickup")


@bp.post("/validate")
@bp.input(PickupIn, arg_name="data")
@bp.output(PickupOut)
@bp.doc(security=AUTH, responses=[403, 409, 429])
@limiter.limit(lambda: current_app.config["RATE_LIMIT_PICKUP"])
@roles_required("locker")
def validate(data: dict):
    """Check and consume a customer's code at the caller's locker (locker device token)."""
    locker_id = current_user.locker_id or ""
    if data.get("locker_id") and data["locker_id"] != locker_id:
        raise ApiError(403, "wrong_locker", "a locker device validates codes for its own locker only")
    result = pickup_validator().validate(locker_id, data["code"])
    db.session.commit()
    if not result.success:
        raise ApiError(409, "pickup_refused", result.message)
    return ok({"delivery_id": result.delivery_id, "order_ref": result.order_ref, "cell_id": result.cell_id})
