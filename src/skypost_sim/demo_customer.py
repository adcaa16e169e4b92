"""The demo's customer, through the public REST API only: log in, order a small parcel, follow the order line by line
(status, drone, cell, ETA), fetch the pickup QR code as PNG and decode it the way a phone camera would (OpenCV).
No ROS here: what the customer does at the locker is the site's business (DemoSite.show_code)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import cv2
import numpy as np

from skypost_locker.qr import QrReader
from skypost_sim.web_stack import API, RestClient, WebStackError

ENDED_BADLY = frozenset({"FAILED", "CANCELLED"})


class OrderError(RuntimeError):
    """The order ended badly, or did not get where it should within its time."""


def decode_qr_png(png: bytes) -> str:
    """The text of the QR code in a PNG image; OrderError when it is not an image or holds no readable code."""
    image = cv2.imdecode(np.frombuffer(png, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise OrderError(f"the QR code is not a readable image ({len(png)} bytes)")
    text = QrReader().decode(image)
    if not text:
        raise OrderError("no QR code could be decoded from the PNG")
    return text


def progress_line(state: str, order: dict, event: dict | None = None, eta: bool = True) -> str:
    """One line of an order's progress: its state, the drone, the locker cell, the ETA while flying (`eta`), and
    why; from `event` (a history entry) when given, else from the order's delivery as it is now."""
    delivery = order.get("delivery") or {}
    source = event or delivery
    parts = [f"{state:<16}"]
    if source.get("drone_id"):
        parts.append(f"drone {source['drone_id']}")
    where = order["locker_id"] + (f" cell {source['cell_id']}" if source.get("cell_id") else "")
    parts.append(where)
    if eta and delivery.get("eta_s") is not None:
        parts.append(f"ETA {delivery['eta_s']:.0f} s (sim)")
    if source.get("reason"):
        parts.append(f"({source['reason']})")
    return "  ".join(parts)


class DemoCustomer:
    """One logged-in customer; `say` prints (the demo's output)."""

    def __init__(self, api: RestClient, say: Callable[[str], None] = print, poll: float = 1.0,
                 eta_every: float = 5.0) -> None:
        self.api = api
        self.say = say
        self.poll = poll
        self.eta_every = eta_every  # s between repeated lines while only the ETA changes
        self.started = time.monotonic()
        self._shown: set[tuple] = set()  # transitions already printed
        self._last_line = 0.0

    def login(self, username: str, password: str) -> dict:
        self.api.login(username, password)
        return self.api.data("GET", "/auth/me")

    def place_order(self, locker_id: str | None = None) -> dict:
        """One unit of the lightest small good in stock."""
        goods = [g for g in self.api.data("GET", "/goods") if g["size"] == "S" and g["stock"] > 0]
        if not goods:
            raise OrderError("no small good in stock to order")
        good = min(goods, key=lambda g: g["weight_kg"])
        body: dict = {"items": [{"good_id": good["id"], "quantity": 1}]}
        if locker_id:
            body["locker_id"] = locker_id
        order = self.api.data("POST", "/orders", body, expect=201)
        self.say(f"order {order['ref']} (id {order['id']}) placed: 1 x {good['name']} to {order['locker_id']}")
        return order

    def follow(self, order_id: int, until: str, timeout: float, alive: Callable[[], str]) -> dict:
        """Polls the order until its status is `until`, printing each change; OrderError when it ends otherwise or
        takes longer than `timeout` s; `alive()` names a dead part of the site ('' while all run)."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while True:
            order = self.get(order_id)
            self._report(order)
            if order["status"] == until:
                return order
            if order["status"] in ENDED_BADLY:
                reason = (order.get("delivery") or {}).get("reason") or "?"
                raise OrderError(f"order {order['ref']} ended {order['status']}: {reason}")
            dead = alive()
            if dead:
                raise OrderError(f"{dead} while order {order['ref']} was {order['status']}")
            if time.monotonic() > deadline:
                raise OrderError(f"order {order['ref']} was still {order['status']} after {timeout:.0f}s "
                                 f"(waiting for {until})")
            pause.wait(self.poll)

    def _report(self, order: dict) -> None:
        """A line per transition not shown yet (from the delivery's history: polling alone would miss the short
        ones), and while only the ETA changes, a line every `eta_every` s."""
        delivery = order.get("delivery") or {}
        history = delivery.get("history") or []
        now = time.monotonic()
        stamp = f"  [{now - self.started:6.1f}s]"
        if not history and (order["id"], order["status"]) not in self._shown:
            self._shown.add((order["id"], order["status"]))  # PENDING: the fleet has not acknowledged it yet
            self.say(f"{stamp} {progress_line(order['status'], order)}")
        for index, event in enumerate(history):
            key = (order["id"], event["state"], event["stamp"], event["reason"])
            if key not in self._shown:
                self._shown.add(key)
                latest = index == len(history) - 1  # the delivery's ETA belongs to its latest transition only
                self.say(f"{stamp} {progress_line(event['state'], order, event, eta=latest)}")
                self._last_line = now
        if delivery.get("eta_s") is not None and now - self._last_line >= self.eta_every:
            self.say(f"{stamp} {progress_line(order['status'], order)}")
            self._last_line = now

    def get(self, order_id: int) -> dict:
        return self.api.data("GET", f"/orders/{order_id}")

    def pickup_code(self, order_id: int) -> str:
        """The order's QR code as the API serves it (PNG), decoded."""
        status, png, content_type = self.api.raw("GET", f"{API}/orders/{order_id}/qr.png")
        if status != 200 or content_type != "image/png":
            raise WebStackError(f"GET {API}/orders/{order_id}/qr.png: HTTP {status} {content_type}: {png[:200]!r}")
        code = decode_qr_png(png)
        self.say(f"QR code fetched ({len(png)} bytes PNG) and decoded: {code}")
        return code
