"""In-memory RosLink and a fleet double behind it, for tests and for running the app without ROS (ROS_LINK=fake)."""
from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from skypost_web.ros import names
from skypost_web.ros.link import LinkDownError, Message, RosLink, ServiceFailedError, ServiceHandler
from skypost_web.status import STATE_CODES, STATES, TERMINAL


class FakeRosLink(RosLink):
    """Services are plain callables; `up` switches the connection; connect callbacks run synchronously."""

    def __init__(self, up: bool = True) -> None:
        self._up = up
        self._lock = threading.RLock()
        self.services: dict[str, Callable[[Message], Message]] = {}
        self.advertised: dict[str, ServiceHandler] = {}
        self.subscribers: dict[str, list[Callable[[Message], None]]] = defaultdict(list)
        self.connect_callbacks: list[Callable[[], None]] = []
        self.calls: list[tuple[str, Message]] = []
        self.started = False

    def start(self) -> None:
        self.started = True

    def connected(self) -> bool:
        return self._up

    def set_up(self, up: bool) -> None:
        was_up, self._up = self._up, up
        if up and not was_up:
            for callback in list(self.connect_callbacks):
                callback()

    def call(self, service: str, service_type: str, request: Message, timeout: float | None = None) -> Message:
        if not self._up:
            raise LinkDownError("fake bridge down")
        handler = self.services.get(service)
        if handler is None:
            raise ServiceFailedError(f"{service}: no such service")
        with self._lock:
            self.calls.append((service, dict(request)))
        return handler(dict(request))

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None],
                  queue_length: int = 0) -> None:
        self.subscribers[topic].append(callback)

    def advertise_service(self, service: str, service_type: str, handler: ServiceHandler) -> None:
        self.advertised[service] = handler

    def on_connect(self, callback: Callable[[], None]) -> None:
        self.connect_callbacks.append(callback)

    def close(self) -> None:
        self._up = False

    # test side --------------------------------------------------------------------------------------------------
    def publish(self, topic: str, message: Message) -> None:
        """What the bridge would forward to our subscription (dropped while down, as on the wire)."""
        if self._up:
            for callback in list(self.subscribers[topic]):
                callback(dict(message))

    def call_advertised(self, service: str, request: Message) -> Message:
        """A ROS node calling a service the web app serves."""
        return self.advertised[service](dict(request))


def ros_time(stamp: float) -> dict[str, int]:
    return {"secs": int(stamp), "nsecs": int((stamp % 1) * 1e9)}


class FakeFleet:
    """A fleet manager double serving /fleet/* on a FakeRosLink: keeps deliveries, publishes every transition."""

    def __init__(self, link: FakeRosLink, clock: Callable[[], float] = time.time) -> None:
        self.link = link
        self.clock = clock
        self.deliveries: dict[str, dict[str, Any]] = {}
        self.history: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.submissions: list[str] = []
        self.refuse: str = ""  # non-empty: refuse new submissions with this message
        link.services[names.SUBMIT_DELIVERY[0]] = self.submit
        link.services[names.CANCEL_DELIVERY[0]] = self.cancel
        link.services[names.RETRY_DELIVERY[0]] = self.retry
        link.services[names.GET_DELIVERY[0]] = self.get

    def _status(self, delivery_id: str) -> dict[str, Any]:
        return dict(self.deliveries[delivery_id])

    def transition(self, delivery_id: str, state: str, reason: str = "", publish: bool = True,
                   **fields: Any) -> dict[str, Any]:
        delivery = self.deliveries[delivery_id]
        stamp = max(self.clock(), delivery.get("_stamp", 0.0) + 0.001)
        delivery.update(fields)
        delivery.update({"state": STATE_CODES[state], "state_name": state, "reason": reason, "_stamp": stamp,
                         "header": {"stamp": ros_time(stamp), "frame_id": ""}, "updated": ros_time(stamp)})
        status = self._status(delivery_id)
        self.history[delivery_id].append(status)
        if publish:
            self.link.publish(names.DELIVERY_STATUS[0], status)
        return status

    def submit(self, request: Message) -> Message:
        delivery_id = request["delivery_id"]
        self.submissions.append(delivery_id)
        if delivery_id in self.deliveries:
            return {"success": True, "message": "known", "duplicate": True, "status": self._status(delivery_id)}
        if self.refuse:
            return {"success": False, "message": self.refuse, "duplicate": False, "status": {}}
        self.deliveries[delivery_id] = {
            "delivery_id": delivery_id, "priority": request.get("priority", 0), "drone_id": "",
            "locker_id": request.get("locker_id", ""), "cell_id": 0, "cell_size": request.get("cell_size", "S"),
            "attempts": 0, "drop_confirmed": False, "eta": float("nan"), "created": ros_time(self.clock())}
        status = self.transition(delivery_id, "QUEUED")
        return {"success": True, "message": "queued", "duplicate": False, "status": status}

    def cancel(self, request: Message) -> Message:
        delivery_id = request["delivery_id"]
        delivery = self.deliveries.get(delivery_id)
        if delivery is None:
            return {"success": False, "message": f"unknown delivery {delivery_id}", "status": {}}
        if STATES[delivery["state"]] in TERMINAL:
            return {"success": False, "message": "delivery is terminal", "status": self._status(delivery_id)}
        return {"success": True, "message": "cancelled",
                "status": self.transition(delivery_id, "CANCELLED", request.get("reason", ""))}

    def retry(self, request: Message) -> Message:
        delivery_id = request["delivery_id"]
        delivery = self.deliveries.get(delivery_id)
        if delivery is None or STATES[delivery["state"]] != "FAILED":
            return {"success": False, "message": "only a FAILED delivery can be retried", "status": {}}
        delivery["attempts"] = delivery.get("attempts", 0) + 1
        return {"success": True, "message": "queued again",
                "status": self.transition(delivery_id, "QUEUED", request.get("reason", ""))}

    def get(self, request: Message) -> Message:
        delivery_id = request["delivery_id"]
        if delivery_id not in self.deliveries:
            return {"success": False, "message": f"unknown delivery {delivery_id}", "status": {}, "history": []}
        return {"success": True, "message": "", "status": self._status(delivery_id),
                "history": list(self.history[delivery_id])}
