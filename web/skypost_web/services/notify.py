"""Notifications to customers on delivered / failed / picked up: pluggable notifiers, one row per event."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Protocol

from sqlalchemy import select

from skypost_web.extensions import db
from skypost_web.models import Notification, Order

log = logging.getLogger(__name__)
KINDS = ("delivered", "failed", "picked_up")


class NotifyError(Exception):
    """A notifier could not hand the event over."""


class Notifier(Protocol):
    channel: str

    def send(self, event: dict[str, Any]) -> None: ...


class LogNotifier:
    channel = "log"

    def send(self, event: dict[str, Any]) -> None:
        log.info("notification %s for order %s (user %s)", event["kind"], event["order_ref"], event["user_id"])


class WebhookNotifier:
    """POSTs the event as JSON; any non-2xx answer or network error is a failure (recorded, not retried)."""

    channel = "webhook"

    def __init__(self, url: str, timeout: float) -> None:
        if not url.startswith(("http://", "https://")):
            raise NotifyError(f"WEBHOOK_URL must be http(s), got {url!r}")
        self.url = url
        self.timeout = timeout

    def send(self, event: dict[str, Any]) -> None:
        body = json.dumps(event).encode()
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                if not 200 <= response.status < 300:
                    raise NotifyError(f"webhook answered {response.status}")
        except (urllib.error.URLError, OSError) as exc:
            raise NotifyError(f"webhook failed: {exc}") from exc


def notifier_from_config(config: dict[str, Any]) -> Notifier:
    if config["NOTIFIER"] == "webhook":
        return WebhookNotifier(config["WEBHOOK_URL"], config["WEBHOOK_TIMEOUT"])
    return LogNotifier()


def notify(notifier: Notifier, order: Order, kind: str, detail: str = "") -> Notification | None:
    """Send `kind` for `order` once; a second call for the same (order, kind) does nothing."""
    existing = db.session.scalar(select(Notification).where(Notification.order_id == order.id,
                                                            Notification.kind == kind))
    if existing is not None:
        return None
    event = {"kind": kind, "order_id": order.id, "order_ref": order.ref, "user_id": order.user_id,
             "locker_id": order.locker_id, "detail": detail}
    row = Notification(order_id=order.id, user_id=order.user_id, kind=kind, channel=notifier.channel, payload=event)
    try:
        notifier.send(event)
    except NotifyError as exc:
        row.status, row.error = "failed", str(exc)[:500]
        log.warning("notification %s for %s failed: %s", kind, order.ref, exc)
    db.session.add(row)
    return row
