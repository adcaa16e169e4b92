"""One WebSocket client: the rosbridge ops it sends, dispatched through one table op -> handler, and everything it
owns (subscriptions, advertised topics and services, pending calls), torn down when it goes. Runs on the event
loop; ROS is reached only through the `Backend` interface, so this module has no rospy.

Errors: every handler raises a BridgeError; `_fail` is the one boundary that logs it with op and id and answers
it — a failed call_service gets `service_response` with result false and the error text, anything else gets a
`status` message, but only if the client asked for statuses with set_level (roslibpy raises on any status)."""
from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from skypost_bridge import encoding
from skypost_bridge.acl import RoleRules
from skypost_bridge.auth import AuthError, Identity, verify_token
from skypost_bridge.config import BridgeConfig
from skypost_bridge.convert import ConversionError, TypeNotFoundError, normalize_type
from skypost_bridge.encoding import Frame, dumps
from skypost_bridge.outbox import Outbox
from skypost_bridge.protocol import (
    LEVELS,
    SCHEMAS,
    AccessDeniedError,
    BridgeError,
    NotFoundError,
    NothingToDoError,
    ProtocolError,
    decode,
    message_id,
    parse,
)

log = logging.getLogger("rosout.skypost_bridge")
MAX_INBOX = 10_000  # messages waiting behind a slow op (advertise, subscribe) before new ones are refused
MAX_FRAGMENTED = 16  # fragmented messages being reassembled at once
FRAGMENT_TTL = 60.0  # s to receive every fragment of a message
DROP_WARN_PERIOD = 5.0  # s between "frames dropped" warnings to one client
_call_ids = itertools.count(1)
CLOSE_POLICY = 1008
# ops a client may send before it authenticated: set_level only chooses which errors it is told about, so an
# unauthenticated client can learn why everything else is refused
BEFORE_AUTH = frozenset({"auth", "set_level"})


class Sender(Protocol):
    def send(self, data: bytes, binary: bool) -> None: ...
    def close(self, code: int, reason: str) -> None: ...


class Backend(Protocol):
    """What a session needs from ROS (src/skypost_bridge/ros_backend.py; a fake in the unit tests)."""

    async def acquire_publisher(self, topic: str, type_name: str | None, latch: bool, queue_size: int,
                                owner: object) -> Any: ...
    def release_publisher(self, handle: Any, owner: object) -> None: ...
    def publish(self, handle: Any, msg: dict[str, Any]) -> None: ...
    async def subscribe(self, topic: str, type_name: str | None, sink: ClientTopic) -> str: ...
    def unsubscribe(self, topic: str, sink: ClientTopic) -> None: ...
    async def call_service(self, service: str, type_name: str | None, args: Any, timeout: float) -> Any: ...
    async def rosapi(self, service: str, args: Any, rules: RoleRules) -> Any: ...
    async def advertise_service(self, service: str, type_name: str, provider: Session) -> None: ...
    def unadvertise_service(self, service: str, provider: Session) -> None: ...


@dataclass(frozen=True)
class _TooBig:
    """Stands in the inbox for a message refused for its size."""

    size: int


@dataclass
class SubParams:
    throttle_ms: int
    queue_length: int
    fragment_size: int
    compression: str


class ClientTopic:
    """A client's subscription(s) to one topic: one delivery per message whatever the number of subscribe ids
    (rosbridge merges them: lowest throttle, highest queue_length, lowest fragment_size), throttled in
    `throttle_rate` steps keeping only the newest `max(1, queue_length)` messages."""

    def __init__(self, session: Session, topic: str) -> None:
        self.session = session
        self.topic = topic
        self.type_name = ""
        self.ids: dict[Any, SubParams] = {}
        self.throttle = 0.0
        self.queue_length = 0
        self.fragment_size = 0
        self.compression = "none"
        self.wants_raw = False
        self._last_sent = -1e9
        self._held: deque[Frame] = deque(maxlen=1)
        self._timer: asyncio.TimerHandle | None = None

    def add(self, sub_id: Any, params: SubParams) -> None:
        self.ids[sub_id] = params
        self._merge(latest=params)

    def remove(self, sub_id: Any) -> bool:
        self.ids.pop(sub_id, None)
        if self.ids:
            self._merge(latest=None)
        return not self.ids

    def _merge(self, latest: SubParams | None) -> None:
        params = list(self.ids.values())
        self.throttle = min(p.throttle_ms for p in params) / 1000.0
        self.queue_length = max(p.queue_length for p in params)
        sizes = [p.fragment_size for p in params if p.fragment_size > 0]
        self.fragment_size = min(sizes) if sizes else 0
        self.compression = latest.compression if latest else params[-1].compression
        self.wants_raw = self.compression == "cbor-raw"
        self._held = deque(self._held, maxlen=max(1, self.queue_length))

    def offer(self, frame: Frame) -> None:
        """A new message from ROS (on the loop)."""
        if self.throttle <= 0:
            self.session.deliver(self, frame)
            return
        now = time.monotonic()
        if self._timer is None and now - self._last_sent >= self.throttle:
            self._last_sent = now
            self.session.deliver(self, frame)
            return
        self._held.append(frame)  # the oldest falls out: only the newest wait
        if self._timer is None:
            delay = max(0.0, self._last_sent + self.throttle - now)
            self._timer = self.session.loop.call_later(delay, self._release)

    def _release(self) -> None:
        self._timer = None
        if not self._held or self.session.closed:
            return
        self._last_sent = time.monotonic()
        self.session.deliver(self, self._held.popleft())
        if self._held:
            self._timer = self.session.loop.call_later(self.throttle, self._release)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._held.clear()


@dataclass
class ClientPublisher:
    handle: Any
    type_name: str
    ids: set[Any]


@dataclass
class _Fragments:
    total: int
    parts: dict[int, str]
    size: int
    expiry: asyncio.TimerHandle


Handler = Callable[["Session", dict[str, Any], Any], Awaitable[None] | None]


class Session:
    def __init__(self, config: BridgeConfig, backend: Backend, loop: asyncio.AbstractEventLoop, sender: Sender,
                 peer: str, now: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.backend = backend
        self.loop = loop
        self.sender = sender
        self.peer = peer
        self._now = now
        self.outbox = Outbox(sender.send, config.send_buffer, self._on_drop)
        self.identity: Identity | None = None
        self.rules: RoleRules | None = None
        if not config.auth_required:
            self.rules = config.access.role(config.anonymous_role)
        self.level = LEVELS["none"]
        self.closed = False
        self.subscriptions: dict[str, ClientTopic] = {}
        self.publishers: dict[str, ClientPublisher] = {}
        self.services: set[str] = set()
        self.pending_requests: dict[Any, Future] = {}  # ROS -> this client's advertised service, by call id
        self._fragments: dict[Any, _Fragments] = {}
        self._inbox: deque[bytes | str | _TooBig] = deque()
        self._busy = False
        self._tasks: set[asyncio.Task] = set()
        self._last_drop_warning = -1e9
        self._auth_timer: asyncio.TimerHandle | None = None
        if config.auth_required:
            self._auth_timer = loop.call_later(config.auth_timeout, self._auth_expired)
        self.stats = {"received": 0, "errors": 0}

    # -- incoming ----------------------------------------------------------------------------------------------
    def on_message(self, payload: bytes | str) -> None:
        if self.closed:
            return
        self.stats["received"] += 1
        if len(payload) > self.config.max_message_size:
            self.message_too_big(len(payload))
            return
        self._take(payload)

    def message_too_big(self, size: int) -> None:
        """Refused in its turn among the messages before and after it (its bytes are not kept)."""
        if not self.closed:
            self._take(_TooBig(size))

    def _take(self, item: bytes | str | _TooBig) -> None:
        if self._busy:
            if len(self._inbox) >= MAX_INBOX:
                self._fail("?", None, BridgeError("too many messages waiting behind a slow operation; dropped"))
                return
            self._inbox.append(item)
            return
        self._process(item)

    def _process(self, payload: bytes | str | _TooBig) -> None:
        op, op_id = "?", None
        try:
            if isinstance(payload, _TooBig):
                raise ProtocolError(
                    f"message too big ({payload.size} bytes > max_message_size {self.config.max_message_size}); "
                    "dropped (send it as fragment ops, or raise the limit)")
            message = parse(payload)
            op_id = message_id(message)
            op = message.get("op")
            if not isinstance(op, str):
                op = "?"
                raise ProtocolError("missing or non-string field 'op'")
            entry = DISPATCH.get(op)
            if entry is None:
                raise ProtocolError(f"unknown op {op!r}")
            schema, handler = entry
            if self.rules is None and op not in BEFORE_AUTH:
                raise AccessDeniedError("not authenticated: send the auth op with a valid token first")
            args = schema.validate(message)
            pending = handler(self, args, op_id)
            if pending is not None:
                self._busy = True
                self._spawn(self._finish(pending, op, op_id, args))
        except BridgeError as exc:
            self._fail(op, op_id, exc, self._service_of(op, payload))
        except (ConversionError, TypeNotFoundError) as exc:
            self._fail(op, op_id, ProtocolError(str(exc)), self._service_of(op, payload))

    @staticmethod
    def _service_of(op: str, payload: bytes | str | _TooBig) -> str | None:
        if op != "call_service" or isinstance(payload, _TooBig):
            return None
        try:
            service = decode(payload).get("service")
        except BridgeError:
            return None
        return service if isinstance(service, str) else ""

    async def _finish(self, pending: Awaitable[None], op: str, op_id: Any, args: dict[str, Any]) -> None:
        try:
            await pending
        except BridgeError as exc:
            self._fail(op, op_id, exc)
        except (ConversionError, TypeNotFoundError) as exc:
            self._fail(op, op_id, ProtocolError(str(exc)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the boundary: a bug or a ROS failure must not kill the session
            log.exception("bridge: %s failed for client %s (op=%s id=%s)", op, self.peer, op, op_id)
            self._fail(op, op_id, BridgeError(f"internal error: {exc}"), log_it=False)
        finally:
            self._busy = False
            while self._inbox and not self._busy and not self.closed:
                self._process(self._inbox.popleft())

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- outgoing ----------------------------------------------------------------------------------------------
    def send_json(self, value: dict[str, Any], fragment_size: int = 0, compression: str = "none") -> None:
        self._send_text(dumps(value), fragment_size, compression)

    def _send_text(self, data: bytes, fragment_size: int = 0, compression: str = "none", key: Any = None,
                   limit: int = 0) -> None:
        if self.closed:
            return
        if compression == "png":
            data = encoding.png_message(data)
        if not fragment_size and len(data) > self.config.max_message_size:
            fragment_size = self.config.fragment_size
        if fragment_size and len(data) > fragment_size:
            for piece in encoding.fragments(data, fragment_size):
                self.outbox.push(piece, False)
            return
        self.outbox.push(data, False, key, limit)

    def deliver(self, sub: ClientTopic, frame: Frame) -> None:
        """One message of a subscribed topic, encoded once for every client that shares its compression."""
        if self.closed:
            return
        compression = sub.compression
        if compression == "none" and not sub.fragment_size and len(frame.json) <= self.config.max_message_size:
            self.outbox.push(frame.json, False, sub, sub.queue_length)  # the hot path
            return
        if compression in ("cbor", "cbor-raw"):
            data, _binary = frame.encoded(compression)
            self.outbox.push(data, True, sub, sub.queue_length)
            return
        data, _binary = frame.encoded(compression)
        if compression == "png":
            data_fragment = sub.fragment_size
            if data_fragment and len(data) > data_fragment:
                for piece in encoding.fragments(data, data_fragment):
                    self.outbox.push(piece, False)
                return
            self.outbox.push(data, False, sub, sub.queue_length)
            return
        self._send_text(data, sub.fragment_size, "none", sub, sub.queue_length)

    def status(self, level: str, text: str, op_id: Any = None) -> None:
        if LEVELS[level] < self.level or self.level >= LEVELS["none"]:
            return
        message: dict[str, Any] = {"op": "status", "level": level, "msg": text}
        if op_id is not None:
            message["id"] = op_id
        self.send_json(message)

    def _on_drop(self, count: int) -> None:
        now = self._now()
        if now - self._last_drop_warning < DROP_WARN_PERIOD:
            return
        self._last_drop_warning = now
        text = (f"client too slow: {self.outbox.dropped} frames dropped so far (send buffer "
                f"{self.config.send_buffer} bytes full)")
        log.warning("bridge: client %s: %s", self.peer, text)
        self.status("warning", text)

    def _fail(self, op: str, op_id: Any, exc: BridgeError, service: str | None = None, log_it: bool = True) -> None:
        self.stats["errors"] += 1
        text = str(exc)
        if log_it:
            log.warning("bridge: client %s: %s (op=%s id=%s)", self.peer, text, op, op_id)
        if op == "call_service":
            response: dict[str, Any] = {"op": "service_response", "service": service or "", "values": text,
                                        "result": False}
            if op_id is not None:
                response["id"] = op_id
            self.send_json(response)
            return
        self.status(exc.level, f"{op}: {text}", op_id)

    # -- access ------------------------------------------------------------------------------------------------
    def _allow(self, action: str, name: str) -> None:
        rules = self.rules
        if rules is None or not rules.allows(action, name):
            role = rules.name if rules else "unauthenticated"
            raise AccessDeniedError(f"role {role!r} may not {action.replace('_', ' ')} {name}")

    def _auth_expired(self) -> None:
        self._auth_timer = None
        if self.rules is None and not self.closed:
            log.warning("bridge: client %s did not authenticate within %.0fs; closing", self.peer,
                        self.config.auth_timeout)
            self.sender.close(CLOSE_POLICY, "authentication timeout")

    # -- handlers ----------------------------------------------------------------------------------------------
    def op_auth(self, args: dict[str, Any], op_id: Any) -> None:
        if not self.config.auth_secret:
            if self.config.auth_required:
                raise AccessDeniedError("this bridge has no auth secret configured: every client is refused")
            return None  # auth is off and there is nothing to check a token against
        try:
            identity = verify_token(args["mac"], self.config.auth_secret, self.config.access.roles)
        except AuthError as exc:
            log.warning("bridge: client %s failed to authenticate: %s", self.peer, exc)
            self.status("error", str(exc), op_id)
            self.outbox.flush()
            self.sender.close(CLOSE_POLICY, "authentication failed")
            self.close()
            return None
        self.identity = identity
        self.rules = self.config.access.role(identity.role)
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None
        log.info("bridge: client %s authenticated as %s (role %s)", self.peer, identity.subject, identity.role)
        self.status("info", f"authenticated as {identity.subject} ({identity.role})", op_id)
        return None

    def op_advertise(self, args: dict[str, Any], op_id: Any) -> Awaitable[None] | None:
        topic, type_name = args["topic"], args["type"]
        self._allow("publish", topic)
        existing = self.publishers.get(topic)
        if existing is not None:
            if existing.type_name != type_name and type_name:
                raise BridgeError(f"{topic} is already advertised by this client as {existing.type_name}")
            existing.ids.add(op_id)
            return None
        return self._advertise(topic, type_name, args["latch"], args["queue_size"], op_id)

    async def _advertise(self, topic: str, type_name: str | None, latch: bool, queue_size: int,
                         op_id: Any) -> ClientPublisher:
        handle = await self.backend.acquire_publisher(topic, type_name, latch, queue_size, self)
        if self.closed:
            self.backend.release_publisher(handle, self)
            raise BridgeError("client gone")
        publisher = ClientPublisher(handle, handle.type_name, {op_id})
        self.publishers[topic] = publisher
        return publisher

    def op_unadvertise(self, args: dict[str, Any], op_id: Any) -> None:
        topic = args["topic"]
        publisher = self.publishers.get(topic)
        if publisher is None:
            raise NothingToDoError(f"{topic} is not advertised by this client")
        publisher.ids.discard(op_id)
        if op_id is None or not publisher.ids:
            del self.publishers[topic]
            self.backend.release_publisher(publisher.handle, self)

    def op_publish(self, args: dict[str, Any], op_id: Any) -> Awaitable[None] | None:
        publisher = self.publishers.get(args["topic"])
        if publisher is not None:  # the hot path
            self.backend.publish(publisher.handle, args["msg"])
            return None
        self._allow("publish", args["topic"])
        return self._publish_unadvertised(args, op_id)

    async def _publish_unadvertised(self, args: dict[str, Any], op_id: Any) -> None:
        """rosbridge advertises on the first publish when the topic's type is known to the master."""
        publisher = self.publishers.get(args["topic"])
        if publisher is None:
            publisher = await self._advertise(args["topic"], None, False, 100, op_id)
        self.backend.publish(publisher.handle, args["msg"])

    def op_subscribe(self, args: dict[str, Any], op_id: Any) -> Awaitable[None] | None:
        topic = args["topic"]
        self._allow("subscribe", topic)
        params = SubParams(args["throttle_rate"], args["queue_length"], args["fragment_size"], args["compression"])
        sub = self.subscriptions.get(topic)
        if sub is not None:
            if args["type"] and sub.type_name and sub.type_name != _normal(args["type"]):
                raise BridgeError(f"{topic} is subscribed by this client as {sub.type_name}")
            sub.add(op_id, params)
            return None
        sub = ClientTopic(self, topic)
        sub.add(op_id, params)
        self.subscriptions[topic] = sub
        return self._subscribe(sub, args["type"])

    async def _subscribe(self, sub: ClientTopic, type_name: str | None) -> None:
        try:
            sub.type_name = await self.backend.subscribe(sub.topic, type_name, sub)
        except BaseException:
            if self.subscriptions.get(sub.topic) is sub:
                del self.subscriptions[sub.topic]
            sub.close()
            raise
        if self.closed:
            self.backend.unsubscribe(sub.topic, sub)

    def op_unsubscribe(self, args: dict[str, Any], op_id: Any) -> None:
        topic = args["topic"]
        sub = self.subscriptions.get(topic)
        if sub is None:
            raise NothingToDoError(f"not subscribed to {topic}")
        if op_id is not None and op_id not in sub.ids:
            raise NothingToDoError(f"no subscription {op_id!r} to {topic}")
        if op_id is None or sub.remove(op_id):
            del self.subscriptions[topic]
            sub.close()
            self.backend.unsubscribe(topic, sub)

    def op_call_service(self, args: dict[str, Any], op_id: Any) -> None:
        service = args["service"]
        self._allow("call", service)
        timeout = min(args["timeout"] or self.config.service_timeout, self.config.service_timeout)
        self._spawn(self._call_service(service, args, op_id, timeout))

    async def _call_service(self, service: str, args: dict[str, Any], op_id: Any, timeout: float) -> None:
        try:
            if service.startswith("/rosapi/"):
                values = await asyncio.wait_for(self.backend.rosapi(service, args["args"], self.rules), timeout)
            else:
                values = await self.backend.call_service(service, args["type"], args["args"], timeout)
        except TimeoutError:
            self._fail("call_service", op_id, BridgeError(f"{service}: no answer within {timeout:.1f}s"), service)
            return
        except BridgeError as exc:
            self._fail("call_service", op_id, exc, service)
            return
        except (ConversionError, TypeNotFoundError) as exc:
            self._fail("call_service", op_id, ProtocolError(str(exc)), service)
            return
        except Exception as exc:  # the boundary for one call
            log.exception("bridge: call_service %s failed for client %s (id=%s)", service, self.peer, op_id)
            self._fail("call_service", op_id, BridgeError(f"{service}: {exc}"), service, log_it=False)
            return
        response: dict[str, Any] = {"op": "service_response", "service": service, "values": values, "result": True}
        if op_id is not None:
            response["id"] = op_id
        self.send_json(response, args["fragment_size"], args["compression"])

    def op_advertise_service(self, args: dict[str, Any], op_id: Any) -> Awaitable[None]:
        service = args["service"]
        self._allow("advertise", service)
        if service.startswith("/rosapi/"):
            raise AccessDeniedError("the /rosapi/ services are served by the bridge itself")
        return self._advertise_service(service, args["type"])

    async def _advertise_service(self, service: str, type_name: str) -> None:
        await self.backend.advertise_service(service, type_name, self)
        if self.closed:
            self.backend.unadvertise_service(service, self)
            return
        self.services.add(service)

    def op_unadvertise_service(self, args: dict[str, Any], op_id: Any) -> None:
        service = args["service"]
        if service not in self.services:
            raise NothingToDoError(f"{service} is not advertised by this client")
        self.services.discard(service)
        self.backend.unadvertise_service(service, self)

    def service_taken(self, service: str) -> None:
        """Another client advertised the same service and now serves it (e.g. this one's reconnect)."""
        self.services.discard(service)

    def forward_service_call(self, service: str, args: dict[str, Any], future: Future, timeout: float) -> None:
        """A ROS node called a service this client serves (on the loop): send it the call_service op."""
        if self.closed:
            if not future.done():
                future.set_exception(BridgeError(f"{service}: the serving client is gone"))
            return
        call_id = f"service_request:{service}:{next(_call_ids)}"
        self.pending_requests[call_id] = future
        self.loop.call_later(timeout + 1.0, self.pending_requests.pop, call_id, None)
        self.send_json({"op": "call_service", "id": call_id, "service": service, "args": args})

    def op_service_response(self, args: dict[str, Any], op_id: Any) -> None:
        future = self.pending_requests.pop(args["id"], None)
        if future is None:
            raise NothingToDoError(f"no pending call {args['id']!r} (answered already, or timed out)")
        if not future.done():
            future.set_result((args["result"], args["values"]))

    def op_set_level(self, args: dict[str, Any], op_id: Any) -> None:
        self.level = LEVELS[args["level"]]

    def op_fragment(self, args: dict[str, Any], op_id: Any) -> None:
        frag_id, num, total, data = args["id"], args["num"], args["total"], args["data"]
        if total < 1 or num >= total:
            raise ProtocolError(f"fragment {num} of {total}: num must be below total")
        pending = self._fragments.get(frag_id)
        if pending is None:
            if len(self._fragments) >= MAX_FRAGMENTED:
                raise ProtocolError(f"more than {MAX_FRAGMENTED} fragmented messages at once")
            expiry = self.loop.call_later(FRAGMENT_TTL, self._fragments_expired, frag_id)
            pending = self._fragments[frag_id] = _Fragments(total, {}, 0, expiry)
        elif pending.total != total:
            raise ProtocolError(f"fragment {frag_id!r}: total changed from {pending.total} to {total}")
        pending.size += len(data) - len(pending.parts.get(num, ""))
        pending.parts[num] = data
        if pending.size > self.config.max_message_size:
            self._drop_fragments(frag_id)
            raise ProtocolError(f"fragmented message {frag_id!r} exceeds max_message_size")
        if len(pending.parts) == total:
            self._drop_fragments(frag_id)
            whole = "".join(pending.parts[i] for i in range(total))
            if '"fragment"' in whole[:64] and decode(whole).get("op") == "fragment":
                raise ProtocolError("fragments may not carry fragments")
            self._process(whole)

    def _drop_fragments(self, frag_id: Any) -> None:
        pending = self._fragments.pop(frag_id, None)
        if pending is not None:
            pending.expiry.cancel()

    def _fragments_expired(self, frag_id: Any) -> None:
        pending = self._fragments.pop(frag_id, None)
        if pending is not None:
            self._fail("fragment", frag_id, ProtocolError(
                f"fragmented message {frag_id!r} incomplete after {FRAGMENT_TTL:.0f}s "
                f"({len(pending.parts)}/{pending.total}); dropped"))

    # -- teardown ----------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Release everything this client created (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        for topic, sub in self.subscriptions.items():
            sub.close()
            self.backend.unsubscribe(topic, sub)
        self.subscriptions.clear()
        for publisher in self.publishers.values():
            self.backend.release_publisher(publisher.handle, self)
        self.publishers.clear()
        for service in self.services:
            self.backend.unadvertise_service(service, self)
        self.services.clear()
        for future in self.pending_requests.values():
            if not future.done():
                future.set_exception(BridgeError("the serving client disconnected"))
        self.pending_requests.clear()
        for frag_id in list(self._fragments):
            self._drop_fragments(frag_id)
        for task in list(self._tasks):
            task.cancel()
        self._inbox.clear()
        self.outbox.clear()


def _normal(type_name: str) -> str:
    try:
        return normalize_type(type_name)
    except TypeNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc


DISPATCH: dict[str, tuple[Any, Handler]] = {
    op: (SCHEMAS[op], getattr(Session, f"op_{op}")) for op in SCHEMAS
}
