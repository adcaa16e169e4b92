"""The fleet manager's services, called through a RosLink with a timeout (skypost/*Delivery*.srv)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from skypost_web.ros import names
from skypost_web.ros.link import RosLink
from skypost_web.status import StatusError, StatusUpdate, from_message


@dataclass(frozen=True)
class FleetReply:
    success: bool
    message: str
    duplicate: bool = False
    status: StatusUpdate | None = None
    history: list[StatusUpdate] = field(default_factory=list)


def _status(response: dict[str, Any]) -> StatusUpdate | None:
    raw = response.get("status")
    if not isinstance(raw, dict) or not raw.get("delivery_id"):
        return None
    try:
        return from_message(raw)
    except StatusError:
        return None


def _reply(response: dict[str, Any]) -> FleetReply:
    history = []
    for raw in response.get("history") or []:
        try:
            history.append(from_message(raw))
        except StatusError:
            continue
    return FleetReply(bool(response.get("success")), str(response.get("message") or ""),
                      bool(response.get("duplicate")), _status(response), history)


class FleetClient:
    def __init__(self, link: RosLink, timeout: float) -> None:
        self.link = link
        self.timeout = timeout

    def submit(self, payload: dict[str, Any]) -> FleetReply:
        request = {"delivery_id": payload["delivery_id"], "order_ref": payload.get("order_ref", ""),
                   "locker_id": payload.get("locker_id", ""), "cell_size": payload.get("cell_size", "S"),
                   "priority": int(payload.get("priority", 0)), "weight_kg": float(payload.get("weight_kg", 0.0))}
        return _reply(self.link.call(*names.SUBMIT_DELIVERY, request, self.timeout))

    def cancel(self, delivery_id: str, reason: str) -> FleetReply:
        return _reply(self.link.call(*names.CANCEL_DELIVERY, {"delivery_id": delivery_id, "reason": reason},
                                     self.timeout))

    def retry(self, delivery_id: str, reason: str) -> FleetReply:
        return _reply(self.link.call(*names.RETRY_DELIVERY, {"delivery_id": delivery_id, "reason": reason},
                                     self.timeout))

    def get(self, delivery_id: str) -> FleetReply:
        return _reply(self.link.call(*names.GET_DELIVERY, {"delivery_id": delivery_id}, self.timeout))
