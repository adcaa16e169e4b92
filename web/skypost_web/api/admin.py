"""Staff endpoints: every order, deliveries with history, drones from the cached fleet summary, retry / cancel
through the fleet's services, users."""
from __future__ import annotations

import datetime as dt
import math

from apiflask import APIBlueprint
from marshmallow import RAISE
from sqlalchemy import select

from skypost_web.api import AUTH, get_or_404, ok
from skypost_web.errors import ApiError
from skypost_web.extensions import db
from skypost_web.models import Delivery, FleetSnapshot, Order, OutboxMessage, User, utcnow
from skypost_web.ros.link import LinkDownError, LinkError
from skypost_web.schemas import (
    DeliveryOut,
    DronesOut,
    FleetReplyOut,
    OrderOut,
    OrderPageArgs,
    PageArgs,
    ReasonIn,
    UserOut,
    UserPatch,
)
from skypost_web.security import roles_required
from skypost_web.services import deliveries
from skypost_web.services import orders as order_service
from skypost_web.services.context import apply_policy, fleet_client

PATH = "/admin"
bp = APIBlueprint("admin", __name__, tag="Admin")
STAFF = ("admin", "operator")
STAFF_DOC = {"security": AUTH, "responses": [403]}


@bp.get("/orders")
@bp.input(OrderPageArgs, location="query", arg_name="page", unknown=RAISE)
@bp.output(OrderOut(many=True))
@bp.doc(**STAFF_DOC)
@roles_required(*STAFF)
def all_orders(page: dict):
    """Every order, newest first (optionally one status)."""
    query = select(Order)
    if page.get("status"):
        query = query.where(Order.status == page["status"].upper())
    rows = db.session.scalars(query.order_by(Order.id.desc()).limit(page["limit"]).offset(page["offset"]))
    return ok([order_service.serialize_order(o) for o in rows])


@bp.get("/deliveries")
@bp.input(OrderPageArgs, location="query", arg_name="page", unknown=RAISE)
@bp.output(DeliveryOut(many=True))
@bp.doc(**STAFF_DOC)
@roles_required(*STAFF)
def all_deliveries(page: dict):
    """Deliveries with their status history, newest first (`status` filters by state)."""
    query = select(Delivery)
    if page.get("status"):
        query = query.where(Delivery.state == page["status"].upper())
    rows = db.session.scalars(query.order_by(Delivery.created_at.desc(), Delivery.id.desc())
                              .limit(page["limit"]).offset(page["offset"]))
    return ok([deliveries.serialize_delivery(d) for d in rows])


@bp.get("/deliveries/<string:delivery_id>")
@bp.output(DeliveryOut)
@bp.doc(**STAFF_DOC)
@roles_required(*STAFF)
def one_delivery(delivery_id: str):
    """One delivery with its history."""
    return ok(deliveries.serialize_delivery(get_or_404(Delivery, delivery_id, "delivery_not_found", "delivery")))


def _fleet_call(delivery: Delivery, action: str, reason: str) -> dict:
    client = fleet_client()
    try:
        reply = client.retry(delivery.id, reason) if action == "retry" else client.cancel(delivery.id, reason)
    except LinkDownError as exc:
        raise ApiError(503, "bridge_unavailable", f"the fleet is not reachable now: {exc}") from exc
    except LinkError as exc:
        raise ApiError(503, "fleet_unavailable", f"the fleet did not answer: {exc}") from exc
    if reply.status is not None:
        deliveries.apply_update(reply.status, apply_policy())
        db.session.commit()
    if not reply.success:
        raise ApiError(409, f"{action}_refused", reply.message or f"the fleet refused the {action}")
    return {"success": True, "message": reply.message, "delivery": deliveries.serialize_delivery(delivery)}


@bp.post("/deliveries/<string:delivery_id>/retry")
@bp.input(ReasonIn, arg_name="data")
@bp.output(FleetReplyOut)
@bp.doc(security=AUTH, responses=[403, 409, 503])
@roles_required(*STAFF)
def retry_delivery(delivery_id: str, data: dict):
    """Queue a FAILED delivery again (the fleet's retry_delivery; a never-accepted one is re-submitted)."""
    delivery = get_or_404(Delivery, delivery_id, "delivery_not_found", "delivery")
    if delivery.state != "FAILED":
        raise ApiError(409, "retry_refused", f"only a FAILED delivery can be retried, this one is {delivery.state}")
    if not delivery.dispatched:  # the fleet never accepted it: send the submission again
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.delivery_id == delivery.id,
                                                            OutboxMessage.kind == "submit"))
        if row is None:
            raise ApiError(409, "retry_refused", "no submission to send again")
        row.status, row.attempts, row.next_attempt_at, row.lease_until = "pending", 0, utcnow(), None
        deliveries.local_transition(delivery, "PENDING", data["reason"] or "re-submitted by staff", apply_policy())
        db.session.commit()
        return ok({"success": True, "message": "submission queued again",
                   "delivery": deliveries.serialize_delivery(delivery)})
    return ok(_fleet_call(delivery, "retry", data["reason"] or "retried by staff"))


@bp.post("/deliveries/<string:delivery_id>/cancel")
@bp.input(ReasonIn, arg_name="data")
@bp.output(FleetReplyOut)
@bp.doc(security=AUTH, responses=[403, 409, 503])
@roles_required(*STAFF)
def cancel_delivery(delivery_id: str, data: dict):
    """Cancel a delivery through the fleet's cancel_delivery (one never sent is cancelled here)."""
    delivery = get_or_404(Delivery, delivery_id, "delivery_not_found", "delivery")
    if delivery.state in ("COMPLETED", "FAILED", "CANCELLED"):
        raise ApiError(409, "cancel_refused", f"delivery {delivery.id} is {delivery.state}")
    if not delivery.dispatched:
        done = order_service.cancel_order(delivery.order, apply_policy(), by_staff=True)
        return ok({"success": True, "message": done, "delivery": deliveries.serialize_delivery(delivery)})
    return ok(_fleet_call(delivery, "cancel", data["reason"] or "cancelled by staff"))


def _drone(raw: dict) -> dict:
    battery = raw.get("battery_percentage")
    known = raw.get("battery_known") and isinstance(battery, (int, float)) and not math.isnan(battery)
    position = (raw.get("pose") or {}).get("position") or {}
    return {"drone_id": raw.get("drone_id", ""), "mission_state": raw.get("mission_state_name", ""),
            "delivery_id": raw.get("delivery_id", ""), "battery": float(battery) if known else None,
            "in_service": bool(raw.get("in_service", True)), "message": raw.get("message", ""),
            "position": [float(position.get(k, 0.0) or 0.0) for k in ("x", "y", "z")]}


@bp.get("/drones")
@bp.output(DronesOut)
@bp.doc(**STAFF_DOC)
@roles_required(*STAFF)
def drones():
    """Drones from the last /fleet/summary the worker cached (`age_s` says how old it is)."""
    snapshot = db.session.get(FleetSnapshot, "summary")
    if snapshot is None:
        return ok({"updated_at": None, "age_s": None, "paused": False, "drones": [], "counts": {}})
    summary = snapshot.value
    counts = {k: int(v) for k, v in summary.items() if k.startswith(("drones_", "deliveries_")) and
              isinstance(v, int)}
    age = (utcnow() - snapshot.updated_at) / dt.timedelta(seconds=1)
    return ok({"updated_at": snapshot.updated_at, "age_s": round(age, 3), "paused": bool(summary.get("paused")),
               "drones": [_drone(d) for d in summary.get("drones") or []], "counts": counts})


@bp.get("/users")
@bp.input(PageArgs, location="query", arg_name="page", unknown=RAISE)
@bp.output(UserOut(many=True))
@bp.doc(**STAFF_DOC)
@roles_required("admin")
def users(page: dict):
    """Every account (admin)."""
    rows = db.session.scalars(select(User).order_by(User.id).limit(page["limit"]).offset(page["offset"])).all()
    return ok(rows)


@bp.patch("/users/<int:user_id>")
@bp.input(UserPatch, arg_name="data")
@bp.output(UserOut)
@bp.doc(security=AUTH, responses=[403, 409])
@roles_required("admin")
def update_user(user_id: int, data: dict):
    """Change an account's role, locker or active flag (admin)."""
    user = get_or_404(User, user_id, "user_not_found", "user")
    if "locker_id" in data and data["locker_id"] is not None:
        from skypost_web.models import Locker

        get_or_404(Locker, data["locker_id"], "locker_not_found", "locker")
    role = data.get("role", user.role)
    locker_id = data.get("locker_id", user.locker_id)
    if role == "locker" and not locker_id:
        raise ApiError(409, "locker_required", "a locker device account needs a locker_id")
    for key, value in data.items():
        setattr(user, key, value)
    db.session.commit()
    return ok(user)
