"""Orders: create (validate, reserve stock atomically, pick a locker, delivery + outbox in one transaction),
cancel, and their JSON form."""
from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update

from skypost_web.errors import ApiError
from skypost_web.extensions import db
from skypost_web.models import Delivery, Good, Locker, LockerCell, Order, OrderItem, OutboxMessage, User, utcnow
from skypost_web.services import deliveries, pickup
from skypost_web.status import CUSTOMER_CANCELLABLE, PENDING, PRIORITY_HIGH, PRIORITY_NORMAL, TERMINAL

SIZE_RANK = {"S": 0, "M": 1, "L": 2}


@dataclass(frozen=True)
class OrderRules:
    max_payload_kg: float
    pickup_secret: str


def _needed_size(goods: list[Good]) -> str:
    return max((g.size for g in goods), key=lambda s: SIZE_RANK.get(s, 0))


def _reserve_stock(goods: dict[int, Good], items: list[dict]) -> None:
    """Conditional decrements in the caller's transaction: no oversell even with concurrent orders. Rows are
    locked in good id order, as everywhere stock changes, so two orders naming the same goods never deadlock."""
    for item in sorted(items, key=lambda i: i["good_id"]):
        done = db.session.execute(
            update(Good).where(Good.id == item["good_id"], Good.stock >= item["quantity"])
            .values(stock=Good.stock - item["quantity"]))
        if done.rowcount != 1:
            good = goods[item["good_id"]]
            raise ApiError(409, "out_of_stock", f"not enough stock of {good.sku} for {item['quantity']}")


def _open_orders_at(locker_id: str, size: str) -> int:
    return db.session.scalar(select(func.count(Order.id)).where(
        Order.locker_id == locker_id, Order.cell_size == size, Order.status.notin_(tuple(TERMINAL)))) or 0


def pick_locker(size: str, wanted: str | None) -> Locker:
    """The wanted locker if it has cells of the size, else the one with the most such cells left unclaimed."""
    if wanted:
        locker = db.session.get(Locker, wanted)
        if locker is None or not locker.active:
            raise ApiError(404, "locker_not_found", f"no active locker {wanted!r}")
        if not any(c.size == size for c in locker.cells):
            raise ApiError(409, "no_cell_size", f"locker {wanted} has no {size} cells")
        return locker
    candidates = db.session.execute(
        select(Locker, func.count(LockerCell.id)).join(LockerCell)
        .where(Locker.active.is_(True), LockerCell.size == size).group_by(Locker.id).order_by(Locker.id)).all()
    if not candidates:
        raise ApiError(409, "no_locker", f"no active locker has {size} cells")
    return max(candidates, key=lambda row: row[1] - _open_orders_at(row[0].id, size))[0]


def create_order(user: User, data: dict[str, Any], rules: OrderRules) -> Order:
    items = data["items"]
    ids = [item["good_id"] for item in items]
    goods = {g.id: g for g in db.session.scalars(select(Good).where(Good.id.in_(ids)))}
    missing = sorted(set(ids) - set(goods))
    if missing:
        raise ApiError(404, "good_not_found", f"no such goods: {missing}")
    weight = sum(goods[i["good_id"]].weight_kg * i["quantity"] for i in items)
    if weight > rules.max_payload_kg:
        raise ApiError(400, "too_heavy", f"parcel weighs {weight:.2f} kg, a drone carries {rules.max_payload_kg} kg")
    size = _needed_size(list(goods.values()))
    locker = pick_locker(size, data.get("locker_id"))
    try:
        _reserve_stock(goods, items)
        ref = "SP" + secrets.token_hex(5).upper()
        order = Order(ref=ref, user_id=user.id, locker_id=locker.id, status=PENDING, cell_size=size,
                      priority=PRIORITY_HIGH if data.get("priority") == "high" else PRIORITY_NORMAL,
                      weight_kg=round(weight, 3),
                      total_cents=sum(goods[i["good_id"]].price_cents * i["quantity"] for i in items))
        order.items = [OrderItem(good_id=i["good_id"], quantity=i["quantity"],
                                 unit_price_cents=goods[i["good_id"]].price_cents) for i in items]
        db.session.add(order)
        db.session.flush()
        delivery = Delivery(id=f"{ref}-1", order_id=order.id, locker_id=locker.id, state=PENDING)
        db.session.add(delivery)
        db.session.add(OutboxMessage(delivery_id=delivery.id, kind="submit", payload=submit_payload(order, delivery)))
        pickup.issue_code(order, rules.pickup_secret)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return order


def submit_payload(order: Order, delivery: Delivery) -> dict[str, Any]:
    """The fleet's intake message (SubmitDelivery request, and the AMQP body)."""
    return {"delivery_id": delivery.id, "order_ref": order.ref, "locker_id": order.locker_id,
            "cell_size": order.cell_size, "priority": order.priority, "weight_kg": float(order.weight_kg)}


def cancel_order(order: Order, policy: deliveries.ApplyPolicy, by_staff: bool = False,
                 now: dt.datetime | None = None) -> str:
    """Cancel: locally when the fleet never got it, else through an outbox 'cancel' message. Returns what was
    done: "cancelled" or "requested"."""
    now = now or utcnow()
    delivery = order.delivery
    if delivery is None or delivery.state in TERMINAL:
        raise ApiError(409, "not_cancellable", f"order {order.ref} is {order.status}")
    if not by_staff and delivery.state not in CUSTOMER_CANCELLABLE:
        raise ApiError(409, "not_cancellable", f"order {order.ref} is already {delivery.state}")
    if db.session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.delivery_id == delivery.id, OutboxMessage.kind == "cancel",
            OutboxMessage.status == "pending")) is not None:
        return "requested"
    # On PostgreSQL this waits for a dispatcher holding the row, then sees its final status.
    dropped = db.session.execute(
        update(OutboxMessage).where(
            OutboxMessage.delivery_id == delivery.id, OutboxMessage.kind == "submit",
            OutboxMessage.status == "pending",
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now))
        .values(status="dropped", last_error="cancelled before dispatch"))
    reason = "cancelled by staff" if by_staff else "cancelled by customer"
    cancel = OutboxMessage(delivery_id=delivery.id, kind="cancel", payload={"delivery_id": delivery.id,
                                                                            "reason": reason})
    if dropped.rowcount == 1 and not delivery.dispatched:
        deliveries.local_transition(delivery, "CANCELLED", f"{reason} before dispatch", policy)
        tried = db.session.scalar(select(OutboxMessage.attempts).where(
            OutboxMessage.delivery_id == delivery.id, OutboxMessage.kind == "submit"))
        if tried:  # a timed-out submit may still have reached the fleet: tell it too
            db.session.add(cancel)
        db.session.commit()
        return "cancelled"
    db.session.add(cancel)
    db.session.commit()
    return "requested"


def serialize_order(order: Order, pickup_ready: bool | None = None) -> dict[str, Any]:
    delivery = order.delivery
    return {
        "id": order.id, "ref": order.ref, "status": order.status, "locker_id": order.locker_id,
        "cell_size": order.cell_size, "priority": "high" if order.priority == PRIORITY_HIGH else "normal",
        "weight_kg": order.weight_kg, "total_cents": order.total_cents, "created_at": order.created_at,
        "items": [{"good_id": i.good_id, "name": i.good.name, "quantity": i.quantity,
                   "unit_price_cents": i.unit_price_cents} for i in order.items],
        "delivery": deliveries.serialize_delivery(delivery) if delivery else None,
        "pickup_ready": bool(delivery and delivery.state == "AWAITING_PICKUP") if pickup_ready is None
        else pickup_ready,
    }
