"""Delivery states (skypost/DeliveryStatus constants) and conversion of fleet status messages; no I/O."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

# skypost/DeliveryStatus.msg
STATES = ("QUEUED", "ASSIGNED", "LOADING", "IN_FLIGHT", "AT_LOCKER", "DROPPING", "AWAITING_PICKUP",
          "COMPLETED", "FAILED", "CANCELLED")
STATE_CODES = {name: code for code, name in enumerate(STATES)}
PRIORITY_NORMAL, PRIORITY_HIGH = 0, 1
TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
# The web app's own state before the fleet has acknowledged a delivery.
PENDING = "PENDING"
# Customers may cancel until the parcel leaves the base.
CUSTOMER_CANCELLABLE = frozenset({PENDING, "QUEUED", "ASSIGNED", "LOADING"})


class StatusError(ValueError):
    """A status message from the fleet is malformed."""


@dataclass(frozen=True)
class StatusUpdate:
    """One transition of one delivery, as reported by the fleet."""

    delivery_id: str
    state: str
    stamp: float  # s since the epoch (fleet time of the transition)
    reason: str = ""
    drone_id: str = ""
    locker_id: str = ""
    cell_id: int = 0
    attempts: int = 0
    drop_confirmed: bool = False
    eta: float | None = None


def _ros_time(value: Any) -> float:
    """rosbridge encodes time as {"secs", "nsecs"}; the AMQP events use float seconds."""
    if isinstance(value, dict):
        return float(value.get("secs", 0)) + float(value.get("nsecs", 0)) * 1e-9
    if value is None:
        return 0.0
    return float(value)


def _eta(value: Any) -> float | None:
    if value is None:
        return None
    try:
        eta = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(eta) or math.isinf(eta) or eta < 0 else eta


def _state_name(message: dict) -> str:
    name = message.get("state_name") or ""
    if name in STATE_CODES:
        return name
    code = message.get("state")
    if isinstance(code, int) and 0 <= code < len(STATES):
        return STATES[code]
    raise StatusError(f"unknown delivery state {code!r} / {name!r}")


def from_message(message: dict) -> StatusUpdate:
    """A skypost/DeliveryStatus as rosbridge JSON, or a `delivery_events` AMQP body, to a StatusUpdate."""
    if not isinstance(message, dict):
        raise StatusError("status message is not an object")
    delivery_id = str(message.get("delivery_id") or "")
    if not delivery_id:
        raise StatusError("status message without delivery_id")
    header = message.get("header") or {}
    stamp = _ros_time(header.get("stamp")) if header else 0.0
    if not stamp:
        stamp = _ros_time(message.get("stamp") if "stamp" in message else message.get("updated"))
    try:
        return StatusUpdate(
            delivery_id=delivery_id,
            state=_state_name(message),
            stamp=stamp,
            reason=str(message.get("reason") or ""),
            drone_id=str(message.get("drone_id") or ""),
            locker_id=str(message.get("locker_id") or ""),
            cell_id=int(message.get("cell_id") or 0),
            attempts=int(message.get("attempts") or 0),
            drop_confirmed=bool(message.get("drop_confirmed")),
            eta=_eta(message.get("eta")),
        )
    except (TypeError, ValueError) as exc:
        raise StatusError(f"status message for {delivery_id}: {exc}") from exc
