"""Apply the fleet's delivery transitions to orders, idempotently and in the fleet's order of events."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from skypost_web.extensions import db
from skypost_web.models import Delivery, DeliveryEvent, Good, Order, utcnow
from skypost_web.services import pickup
from skypost_web.services.notify import Notifier, notify
from skypost_web.status import StatusUpdate

log = logging.getLogger(__name__)
NOTIFY_ON = {"AWAITING_PICKUP": "delivered", "FAILED": "failed", "COMPLETED": "picked_up"}


@dataclass(frozen=True)
class ApplyPolicy:
    notifier: Notifier
    pickup_ttl_hours: float


def record_event(delivery: Delivery, update: StatusUpdate, source: str = "fleet") -> bool:
    """Add the transition to the history unless it is already there; True when added."""
    exists = db.session.scalar(select(DeliveryEvent.id).where(
        DeliveryEvent.delivery_id == delivery.id, DeliveryEvent.state == update.state,
        DeliveryEvent.attempts == update.attempts, DeliveryEvent.stamp == update.stamp))
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():
            db.session.add(DeliveryEvent(
                delivery_id=delivery.id, state=update.state, stamp=update.stamp, reason=update.reason[:500],
                drone_id=update.drone_id[:64], cell_id=update.cell_id, attempts=update.attempts, source=source))
    except IntegrityError:  # another process recorded the same transition
        return False
    return True


def restore_stock(order: Order) -> None:
    if order.stock_restored:
        return
    for item in sorted(order.items, key=lambda i: i.good_id):  # the lock order of orders._reserve_stock
        db.session.execute(Good.__table__.update().where(Good.id == item.good_id)
                           .values(stock=Good.stock + item.quantity))
    order.stock_restored = True


def apply_update(update: StatusUpdate, policy: ApplyPolicy, now: dt.datetime | None = None,
                 source: str = "fleet") -> bool:
    """Apply one transition; True when the delivery's current state changed. Older or repeated ones only
    complete the history. The caller commits."""
    delivery = db.session.get(Delivery, update.delivery_id)
    if delivery is None:
        log.debug("status for unknown delivery %s ignored", update.delivery_id)
        return False
    record_event(delivery, update, source)
    if source == "fleet":
        # Fleet stamps (ROS time, sim time in simulation) order fleet events only; local transitions never
        # compete with them because the fleet never reports a delivery the web app settled locally.
        if update.stamp < delivery.state_stamp:
            return False
        if update.stamp == delivery.state_stamp and update.state == delivery.state:
            return False
        delivery.state_stamp = update.stamp
        delivery.dispatched = True
    elif update.state == delivery.state:
        return False
    order = delivery.order
    delivery.state = update.state
    delivery.reason = update.reason[:500]
    delivery.drone_id = update.drone_id[:64]
    if update.cell_id:
        delivery.cell_id = update.cell_id
    if update.locker_id:
        delivery.locker_id = update.locker_id[:64]
    delivery.attempts = update.attempts
    delivery.drop_confirmed = update.drop_confirmed
    delivery.eta = update.eta
    order.status = update.state
    if update.state == "AWAITING_PICKUP":
        pickup.arm(order, policy.pickup_ttl_hours, now)
    if update.state == "CANCELLED":
        restore_stock(order)
    kind = NOTIFY_ON.get(update.state)
    if kind:
        notify(policy.notifier, order, kind, update.reason)
    return True


def local_transition(delivery: Delivery, state: str, reason: str, policy: ApplyPolicy) -> None:
    """A transition decided by the web app itself (cancel before dispatch, refused by the fleet)."""
    stamp = utcnow().replace(tzinfo=dt.UTC).timestamp()
    apply_update(StatusUpdate(delivery.id, state, stamp, reason, locker_id=delivery.locker_id,
                              attempts=delivery.attempts), policy, source="web")


def remaining_eta(delivery: Delivery, now: dt.datetime | None = None) -> float | None:
    if delivery.eta is None or delivery.state not in ("IN_FLIGHT", "AT_LOCKER"):
        return None
    elapsed = ((now or utcnow()) - delivery.updated_at).total_seconds()
    return max(0.0, delivery.eta - max(0.0, elapsed))


def serialize_delivery(delivery: Delivery, with_history: bool = True) -> dict:
    data = {
        "id": delivery.id, "order_id": delivery.order_id, "order_ref": delivery.order.ref, "state": delivery.state,
        "reason": delivery.reason, "drone_id": delivery.drone_id, "locker_id": delivery.locker_id,
        "cell_id": delivery.cell_id, "attempts": delivery.attempts, "drop_confirmed": delivery.drop_confirmed,
        "eta_s": remaining_eta(delivery), "dispatched": delivery.dispatched, "updated_at": delivery.updated_at,
    }
    if with_history:
        data["history"] = [
            {"state": e.state, "reason": e.reason, "drone_id": e.drone_id, "cell_id": e.cell_id,
             "attempts": e.attempts, "stamp": e.stamp, "source": e.source}
            for e in delivery.history]
    return data
