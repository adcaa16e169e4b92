"""RabbitMQ dispatch (publisher confirms) and the `delivery_events` consumer; names as in docs/interfaces.md."""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

import pika
import pika.exceptions

from skypost_web.models import OutboxMessage
from skypost_web.services.dispatch import Ack, TransportError
from skypost_web.status import PRIORITY_HIGH

log = logging.getLogger(__name__)
ROUTING_KEY, PRIORITY_ROUTING_KEY = "deliveries", "deliveries.priority"


class AmqpNames:
    def __init__(self, prefix: str = "") -> None:
        self.exchange = f"{prefix}delivery_exchange"
        self.queue = f"{prefix}deliveries"
        self.priority_queue = f"{prefix}deliveries.priority"
        self.dead_letter_queue = f"{prefix}deliveries.dead"
        self.events_queue = f"{prefix}delivery_events"


def declare(channel, names: AmqpNames) -> None:
    """The same declarations as the fleet manager's (identical arguments), so either side may start first."""
    channel.exchange_declare(names.exchange, exchange_type="direct", durable=True)
    dead = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.dead_letter_queue}
    channel.queue_declare(names.dead_letter_queue, durable=True)
    channel.queue_declare(names.queue, durable=True, arguments=dead)
    channel.queue_declare(names.priority_queue, durable=True, arguments=dead)
    channel.queue_declare(names.events_queue, durable=True)
    channel.queue_bind(names.queue, names.exchange, routing_key=ROUTING_KEY)
    channel.queue_bind(names.priority_queue, names.exchange, routing_key=PRIORITY_ROUTING_KEY)


def _parameters(url: str, timeout: float) -> pika.URLParameters:
    params = pika.URLParameters(url)
    params.socket_timeout = timeout
    params.blocked_connection_timeout = timeout
    params.connection_attempts = 1
    return params


class AmqpTransport:
    """Persistent JSON messages to `delivery_exchange`; sent only when the broker confirms the routed message."""

    name = "amqp"

    def __init__(self, url: str, prefix: str = "", timeout: float = 5.0) -> None:
        self.url = url
        self.names = AmqpNames(prefix)
        self.timeout = timeout
        self._connection: pika.BlockingConnection | None = None
        self._channel = None

    def ready(self) -> bool:
        return True  # a down broker shows up as a TransportError per message, with backoff

    def _open(self):
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = pika.BlockingConnection(_parameters(self.url, self.timeout))
            channel = self._connection.channel()
            declare(channel, self.names)
            channel.confirm_delivery()
            self._channel = channel
        return self._channel

    def send(self, message: OutboxMessage) -> Ack:
        if message.kind != "submit":
            raise TransportError(f"AMQP carries submissions only, not {message.kind}")
        payload = message.payload
        key = PRIORITY_ROUTING_KEY if int(payload.get("priority", 0)) == PRIORITY_HIGH else ROUTING_KEY
        try:
            channel = self._open()
            channel.basic_publish(
                self.names.exchange, key, json.dumps(payload).encode(),
                pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     message_id=payload["delivery_id"]),
                mandatory=True)
        except (pika.exceptions.UnroutableError, pika.exceptions.NackError) as exc:
            raise TransportError(f"broker did not take the message: {exc!r}") from exc
        except (pika.exceptions.AMQPError, OSError) as exc:
            self.close()
            raise TransportError(f"broker unreachable: {exc!r}") from exc
        return Ack(True, "confirmed by the broker")

    def check(self) -> bool:
        try:
            self._open()
        except (pika.exceptions.AMQPError, OSError):
            self.close()
            return False
        return True

    def close(self) -> None:
        try:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        except (pika.exceptions.AMQPError, OSError):
            pass
        self._connection, self._channel = None, None


class EventConsumer:
    """Consumes `delivery_events` in its own thread; each body is handed to `handle` and acked after it returns
    (an exception requeues it). Reconnects with backoff until stopped."""

    def __init__(self, url: str, prefix: str, handle: Callable[[dict], None], stop: threading.Event,
                 timeout: float = 5.0, max_backoff: float = 30.0) -> None:
        self.url = url
        self.names = AmqpNames(prefix)
        self.handle = handle
        self.stop = stop
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.thread = threading.Thread(target=self._run, name="skypost-amqp-events", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                connection = pika.BlockingConnection(_parameters(self.url, self.timeout))
                try:
                    channel = connection.channel()
                    declare(channel, self.names)
                    channel.basic_qos(prefetch_count=50)
                    backoff = 1.0
                    for method, _props, body in channel.consume(self.names.events_queue, inactivity_timeout=0.5):
                        if self.stop.is_set():
                            break
                        if method is None:
                            continue
                        self._one(channel, method, body)
                    channel.cancel()
                finally:
                    if connection.is_open:
                        connection.close()
            except (pika.exceptions.AMQPError, OSError) as exc:
                log.warning("delivery_events consumer: %r; reconnecting in %.0fs", exc, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    def _one(self, channel, method, body: bytes) -> None:
        try:
            event = json.loads(body.decode())
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("delivery_events: dropped a message that is not JSON")
            channel.basic_ack(method.delivery_tag)
            return
        try:
            self.handle(event)
        except Exception:
            log.exception("delivery_events: applying %r failed; requeued", event.get("delivery_id"))
            channel.basic_nack(method.delivery_tag, requeue=True)
            return
        channel.basic_ack(method.delivery_tag)
