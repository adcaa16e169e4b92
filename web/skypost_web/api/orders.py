"""A customer's orders: create, list, get (live status and ETA), cancel, the pickup QR code."""
from __future__ import annotations

import io

import qrcode
from apiflask import APIBlueprint
from flask import current_app, send_file
from flask_jwt_extended import current_user
from marshmallow import RAISE
from sqlalchemy import select

from skypost_web.api import AUTH, get_or_404, ok
from skypost_web.errors import ApiError
from skypost_web.extensions import db
from skypost_web.models import Order, PickupCode
from skypost_web.schemas import OrderIn, OrderOut, OrderPageArgs, QrTextOut
from skypost_web.security import roles_required
from skypost_web.services import orders as order_service
from skypost_web.services import pickup
from skypost_web.services.context import apply_policy, order_rules

PATH = "/orders"
bp = APIBlueprint("orders", __name__, tag="Orders")
PNG = {200: {"description": "The QR code as PNG",
             "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}}


def own_order(order_id: int) -> Order:
    """The caller's order; another user's order is reported as missing (its existence is not revealed)."""
    order = get_or_404(Order, order_id, "order_not_found", "order")
    if order.user_id != current_user.id:
        raise ApiError(404, "order_not_found", f"no order {order_id}")
    return order


@bp.post("")
@bp.input(OrderIn, arg_name="data")
@bp.output(OrderOut, status_code=201)
@bp.doc(security=AUTH, responses=[403, 404, 409])
@roles_required("customer", "admin", "operator")
def create_order(data: dict):
    """Order goods for delivery to a locker (the fleet is told through the outbox)."""
    order = order_service.create_order(current_user, data, order_rules())
    return ok(order_service.serialize_order(order))


@bp.get("")
@bp.input(OrderPageArgs, location="query", arg_name="page", unknown=RAISE)
@bp.output(OrderOut(many=True))
@bp.doc(security=AUTH)
@roles_required()
def list_orders(page: dict):
    """The caller's orders, newest first."""
    query = select(Order).where(Order.user_id == current_user.id)
    if page.get("status"):
        query = query.where(Order.status == page["status"].upper())
    rows = db.session.scalars(query.order_by(Order.id.desc()).limit(page["limit"]).offset(page["offset"]))
    return ok([order_service.serialize_order(o) for o in rows])


@bp.get("/<int:order_id>")
@bp.output(OrderOut)
@bp.doc(security=AUTH)
@roles_required()
def get_order(order_id: int):
    """One of the caller's orders with its delivery's live status, ETA and history."""
    return ok(order_service.serialize_order(own_order(order_id)))


@bp.post("/<int:order_id>/cancel")
@bp.output(OrderOut)
@bp.doc(security=AUTH, responses=[409])
@roles_required()
def cancel_order(order_id: int):
    """Cancel before the parcel leaves the base; the order shows CANCELLED once the fleet confirms."""
    order = own_order(order_id)
    order_service.cancel_order(order, apply_policy())
    return ok(order_service.serialize_order(order))


def _code(order: Order) -> tuple[PickupCode, str]:
    code = db.session.scalar(select(PickupCode).where(PickupCode.order_id == order.id))
    if code is None or order.status in ("CANCELLED", "FAILED"):
        raise ApiError(409, "no_pickup_code", f"order {order.ref} has no usable pickup code")
    return code, pickup.code_text(code, current_app.config["PICKUP_SECRET"])


@bp.get("/<int:order_id>/qr")
@bp.output(QrTextOut)
@bp.doc(security=AUTH, responses=[409])
@roles_required()
def qr_text(order_id: int):
    """The pickup code as text (what the QR code encodes)."""
    order = own_order(order_id)
    code, text = _code(order)
    return ok({"code": text, "order_ref": order.ref, "locker_id": order.locker_id, "expires_at": code.expires_at,
               "usable": code.used_at is None and order.status == "AWAITING_PICKUP"})


@bp.get("/<int:order_id>/qr.png")
@bp.doc(security=AUTH, responses={**PNG, 404: "Not found", 409: "No pickup code"})
@roles_required()
def qr_png(order_id: int):
    """The pickup code as a QR code (PNG) to show at the locker."""
    order = own_order(order_id)
    _unused, text = _code(order)
    image = qrcode.make(text, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return send_file(buffer, mimetype="image/png", download_name=f"{order.ref}.png")
