"""RabbitMQ intake (pika, its own thread, one BlockingConnection): deliveries in, status events out.

Topology (every name prefixed by ~amqp_prefix):
  exchange `delivery_exchange` (direct, durable)
    routing key `deliveries`          -> queue `deliveries`           (durable)
    routing key `deliveries.priority` -> queue `deliveries.priority`  (durable; always served first)
  queue `deliveries.dead`    poison messages, with the reason in the `x-skypost-reason` header (durable)
  queue `delivery_events`    one JSON object per delivery transition (durable, persistent messages)

A message is acknowledged only after the fleet core has committed the delivery to its store; a message the
core refuses (bad JSON, bad field) is published to the dead-letter queue with the reason, then acknowledged;
an unexpected failure leaves it unacknowledged so the broker redelivers it (three times at most). The
connection is re-opened with exponential backoff, so a broker restart (or a killed connection) loses nothing:
unacknowledged messages come back, and submission is idempotent by delivery id.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skypost_fleet.model import (
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    Delivery,
    DeliveryRequest,
    InvalidRequestError,
)

log = logging.getLogger(__name__)
FIELDS = ("delivery_id", "order_ref", "locker_id", "cell_size", "priority", "weight_kg")
PRIORITY_NAMES = {"normal": PRIORITY_NORMAL, "high": PRIORITY_HIGH}
MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class AmqpNames:
    prefix: str = ""

    @property
    def exchange(self) -> str:
        return f"{self.prefix}delivery_exchange"

    @property
    def queue(self) -> str:
        return f"{self.prefix}deliveries"

    @property
    def priority_queue(self) -> str:
        return f"{self.prefix}deliveries.priority"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.prefix}deliveries.dead"

    @property
    def events_queue(self) -> str:
        return f"{self.prefix}delivery_events"

    # routing keys on the (already prefixed) exchange
    ROUTING_KEY = "deliveries"
    PRIORITY_ROUTING_KEY = "deliveries.priority"


def parse_message(body: bytes, from_priority_queue: bool) -> DeliveryRequest:
    """The JSON body -> a request (field types checked here; values by the core's validate)."""
    if len(body) > MAX_BODY:
        raise InvalidRequestError(f"message body is {len(body)} bytes, more than {MAX_BODY}")
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequestError(f"body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequestError("body must be a JSON object")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InvalidRequestError(f"unknown fields: {', '.join(unknown)}")
    for name in ("delivery_id", "order_ref", "locker_id", "cell_size"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise InvalidRequestError(f"{name} must be a string")
    priority = data.get("priority", PRIORITY_NORMAL)
    if isinstance(priority, str):
        if priority.lower() not in PRIORITY_NAMES:
            raise InvalidRequestError(f"priority must be 0, 1, 'normal' or 'high', got {priority!r}")
        priority = PRIORITY_NAMES[priority.lower()]
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidRequestError(f"priority must be 0, 1, 'normal' or 'high', got {priority!r}")
    weight = data.get("weight_kg", 0.0)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight):
        raise InvalidRequestError(f"weight_kg must be a number, got {weight!r}")
    if from_priority_queue:
        priority = max(priority, PRIORITY_HIGH)
    return DeliveryRequest(
        delivery_id=data.get("delivery_id") or "",
        order_ref=data.get("order_ref") or "",
        locker_id=data.get("locker_id") or "",
        cell_size=data.get("cell_size") or "S",
        priority=priority,
        weight_kg=float(weight),
    )


def event_body(d: Delivery) -> bytes:
    return json.dumps(
        {
            "delivery_id": d.delivery_id,
            "order_ref": d.order_ref,
            "state": int(d.state),
            "state_name": d.state.name,
            "reason": d.reason,
            "drone_id": d.drone_id,
            "locker_id": d.locker_id,
            "cell_id": d.cell_id,
            "attempts": d.attempts,
            "drop_confirmed": d.drop_confirmed,
            "stamp": d.updated,
            "eta": None if math.isnan(d.eta) else d.eta,
        }
    ).encode()


Accept = Callable[[DeliveryRequest], Any]  # raises InvalidRequestError for a poison message


class AmqpIntake:
    """Consumes both delivery queues (priority first) and publishes status events, in one thread."""

    def __init__(
        self,
        url: str,
        names: AmqpNames,
        accept: Accept,
        publish_events: bool = True,
        max_events: int = 100_000,
        idle_wait: float = 0.2,
        max_backoff: float = 30.0,
        connection_name: str = "skypost-fleet",
        logger: logging.Logger | None = None,
    ) -> None:
        self.url = url
        self.log = logger or log
        self.names = names
        self.accept = accept
        self.publish_events = publish_events
        self.idle_wait = idle_wait
        self.max_backoff = max_backoff
        self.connection_name = connection_name
        self.events: queue.Queue[bytes] = queue.Queue(maxsize=max_events)
        self.connected = threading.Event()
        self.stats = {"accepted": 0, "duplicates": 0, "dead_lettered": 0, "reconnects": 0, "events": 0}
        self.max_failures = 3
        self._failures: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-amqp", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def event(self, d: Delivery) -> None:
        """Queue a status event (called from any thread; dropped with a warning when the buffer is full)."""
        if not self.publish_events:
            return
        try:
            self.events.put_nowait(event_body(d))
        except queue.Full:
            self.log.warning("AMQP event buffer full; dropping the event of %s", d.delivery_id)

    # ----------------------------------------------------------------------------------------------- thread
    def _run(self) -> None:
        import pika  # imported here: the node runs without RabbitMQ unless ~amqp_url is set

        backoff = 0.5
        while not self._stop.is_set():
            connection = None
            try:
                params = pika.URLParameters(self.url)
                params.client_properties = {"connection_name": self.connection_name}
                params.heartbeat = 30
                params.blocked_connection_timeout = 60
                connection = pika.BlockingConnection(params)
                channel = connection.channel()
                channel.confirm_delivery()
                self._declare(channel)
                self.connected.set()
                self.log.info("AMQP connected to %s (%s)", params.host, self.names.exchange)
                backoff = 0.5
                self._serve(connection, channel)
            except Exception as exc:  # any broker / network failure: reconnect after a pause
                self.connected.clear()
                if self._stop.is_set():
                    break
                self.stats["reconnects"] += 1
                self.log.warning("AMQP connection lost (%s); reconnecting in %.1f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self.connected.clear()
                if connection is not None and connection.is_open:
                    try:
                        connection.close()
                    except Exception:
                        pass

    def _declare(self, channel) -> None:
        n = self.names
        channel.exchange_declare(n.exchange, exchange_type="direct", durable=True)
        dead = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": n.dead_letter_queue}
        channel.queue_declare(n.dead_letter_queue, durable=True)
        channel.queue_declare(n.queue, durable=True, arguments=dead)
        channel.queue_declare(n.priority_queue, durable=True, arguments=dead)
        channel.queue_declare(n.events_queue, durable=True)
        channel.queue_bind(n.queue, n.exchange, routing_key=AmqpNames.ROUTING_KEY)
        channel.queue_bind(n.priority_queue, n.exchange, routing_key=AmqpNames.PRIORITY_ROUTING_KEY)

    def _serve(self, connection, channel) -> None:
        while not self._stop.is_set():
            self._flush_events(channel)
            handled = self._take_one(channel, self.names.priority_queue, True) or self._take_one(
                channel, self.names.queue, False
            )
            if not handled:
                connection.process_data_events(time_limit=self.idle_wait)

    def _take_one(self, channel, queue_name: str, priority: bool) -> bool:
        method, properties, body = channel.basic_get(queue_name, auto_ack=False)
        if method is None:
            return False
        try:
            request = parse_message(body, priority)
            _delivery, duplicate = self.accept(request)
        except InvalidRequestError as exc:
            self._dead_letter(channel, method, properties, body, queue_name, str(exc))
            return True
        except Exception as exc:
            # Maybe not the message's fault (store briefly unavailable): redeliver a few times, then park it.
            key = hashlib.sha256(body).hexdigest()
            self._failures[key] = self._failures.get(key, 0) + 1
            if self._failures[key] >= self.max_failures:
                del self._failures[key]
                self._dead_letter(
                    channel,
                    method,
                    properties,
                    body,
                    queue_name,
                    f"failed {self.max_failures} times: {exc!r}",
                )
            else:
                self.log.exception("AMQP message from %s not accepted; it will be redelivered", queue_name)
                channel.basic_nack(method.delivery_tag, requeue=True)
                self._stop.wait(self.idle_wait)
            return True
        if self._failures:
            self._failures.pop(hashlib.sha256(body).hexdigest(), None)
        channel.basic_ack(method.delivery_tag)
        self.stats["duplicates" if duplicate else "accepted"] += 1
        return True

    def _dead_letter(self, channel, method, properties, body: bytes, queue_name: str, reason: str) -> None:
        import pika

        headers = dict((properties.headers or {}) if properties else {})
        headers.update({"x-skypost-reason": reason, "x-skypost-queue": queue_name})
        channel.basic_publish(
            "",
            self.names.dead_letter_queue,
            body,
            pika.BasicProperties(
                delivery_mode=2,
                headers=headers,
                content_type=properties.content_type if properties else None,
            ),
        )
        channel.basic_ack(method.delivery_tag)  # only after the broker confirmed the dead-letter copy
        self.stats["dead_lettered"] += 1
        self.log.warning("AMQP message from %s dead-lettered: %s", queue_name, reason)

    def _flush_events(self, channel, limit: int = 500) -> None:
        import pika

        for _ in range(limit):
            try:
                body = self.events.get_nowait()
            except queue.Empty:
                return
            try:
                channel.basic_publish(
                    "",
                    self.names.events_queue,
                    body,
                    pika.BasicProperties(delivery_mode=2, content_type="application/json"),
                )
            except Exception:
                self._requeue_event(body)
                raise
            self.stats["events"] += 1

    def _requeue_event(self, body: bytes) -> None:
        try:
            self.events.put_nowait(body)
        except queue.Full:
            self.log.warning("AMQP event buffer full; an event was dropped")
