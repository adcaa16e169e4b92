"""The bridge's ROS side (rospy): one publisher and one subscriber per topic shared by every client, ROS service
calls on persistent connections with a timeout, services served by clients, the master for rosapi.

Threads: rospy callbacks never block. A subscriber callback converts and encodes the message once, in rospy's
receiving thread, and hands it to the event loop through `LoopPoster` (a bounded deque and one coalesced
wake-up); everything that talks to the master or waits on a service runs on the worker pool."""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import rosgraph
import rospy
import rosservice

from skypost_bridge import convert
from skypost_bridge.acl import RoleRules
from skypost_bridge.convert import ConversionError, TypeNotFoundError
from skypost_bridge.encoding import Frame, publish_prefix
from skypost_bridge.protocol import BridgeError, NotFoundError
from skypost_bridge.rosapi import RosApi, SystemState

log = logging.getLogger("rosout.skypost_bridge")
MAX_POSTED_MESSAGES = 50_000  # messages in flight from rospy threads to the loop before the oldest are dropped
DRAIN_BATCH = 500  # messages handed out per loop turn, so that sockets are served between batches


class LoopPoster:
    """Hands work from rospy threads to the event loop with at most one pending wake-up. A backlog of messages is
    handed out `batch` at a time, one batch per loop turn: a burst from ROS never holds up accepting clients,
    reading their requests or writing to them (in one go, 50,000 messages to 10 clients took seconds)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, max_messages: int = MAX_POSTED_MESSAGES,
                 batch: int = DRAIN_BATCH) -> None:
        self.loop = loop
        self.batch = batch
        self._messages: deque[tuple[Callable[[Any], None], Any]] = deque(maxlen=max_messages)
        self._calls: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._scheduled = False
        self.dropped = 0

    def post_message(self, fn: Callable[[Any], None], arg: Any) -> None:
        messages = self._messages
        if len(messages) == messages.maxlen:
            self.dropped += 1
        messages.append((fn, arg))
        self._wake()

    def post(self, fn: Callable[..., None], *args: Any) -> None:
        self._calls.append((fn, args))
        self._wake()

    def _wake(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop is closed: shutting down
                pass

    def _drain(self) -> None:
        self._scheduled = False
        calls, messages = self._calls, self._messages
        while calls:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except Exception:
                log.exception("bridge: posted call %r failed", fn)
        for _ in range(min(len(messages), self.batch)):
            fn, arg = messages.popleft()
            try:
                fn(arg)
            except Exception:
                log.exception("bridge: delivering a message failed")
        if (messages or calls) and not self._scheduled:  # the rest after the loop has served its sockets
            self._scheduled = True
            self.loop.call_soon(self._drain)


class TopicFeed:
    """One rospy.Subscriber for every client subscribed to a topic; the last latched message is kept so that a
    client subscribing later still gets it (rospy only sends it when the subscriber connects)."""

    def __init__(self, topic: str, cls: type, poster: LoopPoster) -> None:
        self.topic = topic
        self.cls = cls
        self.type_name = cls._type
        self.poster = poster
        self.sinks: list[Any] = []
        self.latched: Frame | None = None
        self.subscriber: rospy.Subscriber | None = None
        self.ready: asyncio.Future | None = None
        self.wants_stamp = False
        self._prefix = publish_prefix(topic)
        self._errors = 0

    def callback(self, message: Any) -> None:  # rospy thread
        try:
            stamp = None
            if self.wants_stamp:
                now = rospy.get_rostime()
                stamp = (now.secs, now.nsecs)
            frame = Frame(self.topic, message, self._prefix, stamp)
        except Exception:
            self._errors += 1
            if self._errors <= 3:
                log.exception("bridge: cannot convert a %s message on %s", self.type_name, self.topic)
            return
        header = getattr(message, "_connection_header", None)
        latched = bool(header) and header.get("latching") == "1"
        self.poster.post_message(self._deliver, (frame, latched))

    def _deliver(self, item: tuple[Frame, bool]) -> None:  # loop
        frame, latched = item
        if latched:
            self.latched = frame
        for sink in self.sinks:
            sink.offer(frame)


class PublisherHandle:
    """One rospy publisher shared by every client advertising a topic, written by its own thread.

    rospy's queued publishers hand each message to a writer thread one by one (about 10x the cost of a direct
    write); here the event loop converts the message (so errors reach the client), appends it to a bounded deque
    and wakes the writer only when it sleeps; the writer then publishes everything queued with direct writes."""

    def __init__(self, topic: str, cls: type, publisher: rospy.Publisher, now: convert.Clock,
                 queue_size: int) -> None:
        self.topic = topic
        self.type_name = cls._type
        self.publisher = publisher
        self.from_json = convert.from_json_converter(cls)
        self.owners: set[int] = set()
        self.dropped = 0
        self._now = now
        self._queue: deque[Any] = deque(maxlen=max(1, queue_size))
        self._idle = False
        self._stopped = False
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bridge-pub{topic}", daemon=True)
        self._thread.start()

    def publish(self, data: dict[str, Any]) -> None:  # loop
        message = self.from_json(data, "msg", self._now)
        queue = self._queue
        if len(queue) == queue.maxlen:
            self.dropped += 1
            if self.dropped in (1, 10, 100) or self.dropped % 10_000 == 0:
                log.warning("bridge: %s: ROS side slower than the clients; %d messages dropped (queue_size %d)",
                            self.topic, self.dropped, queue.maxlen)
        queue.append(message)
        if self._idle:
            self._idle = False
            self._wake.set()

    def _run(self) -> None:  # writer thread
        queue, publish = self._queue, self.publisher.publish
        errors = 0
        while not self._stopped:
            while queue:
                message = queue.popleft()
                try:
                    publish(message)
                except Exception as exc:  # closed publisher, a subscriber that vanished mid-write
                    errors += 1
                    if errors <= 3:
                        log.warning("bridge: publishing on %s failed: %s", self.topic, exc)
            self._idle = True
            if queue:  # appended while we were finishing: the loop saw us busy and did not wake us
                self._idle = False
                continue
            self._wake.wait()
            self._wake.clear()

    def close(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(2.0)
        self.publisher.unregister()


class ServedService:
    """A ROS service whose handler forwards each call to the client serving it and waits for its answer."""

    def __init__(self, name: str, cls: type, provider: Any, backend: RosBackend) -> None:
        self.name = name
        self.cls = cls
        self.type_name = cls._type
        self.provider = provider
        self.backend = backend
        self.server: rospy.Service | None = None
        self._to_json = convert.to_json_converter(cls._request_class)

    def handle(self, request: Any) -> Any:  # rospy thread
        provider = self.provider
        timeout = self.backend.config.service_timeout
        if provider is None or provider.closed:
            raise rospy.ServiceException(f"{self.name}: the client serving it is gone")
        future: concurrent.futures.Future = concurrent.futures.Future()
        self.backend.poster.post(provider.forward_service_call, self.name, self._to_json(request), future, timeout)
        try:
            ok, values = future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise rospy.ServiceException(f"{self.name}: the serving client did not answer within {timeout}s") from exc
        except BridgeError as exc:
            raise rospy.ServiceException(f"{self.name}: {exc}") from exc
        if not ok:
            raise rospy.ServiceException(f"{self.name}: the serving client failed: {values}")
        try:
            return convert.from_json(self.cls._response_class, values, self.backend.now, path="values")
        except (ConversionError, TypeNotFoundError) as exc:
            raise rospy.ServiceException(f"{self.name}: bad response from the serving client: {exc}") from exc


class MasterGraph:
    """rosapi's view of the master; a fresh XML-RPC proxy per call (they are not thread-safe)."""

    def __init__(self, caller_id: str) -> None:
        self.caller_id = caller_id

    def _master(self) -> rosgraph.Master:
        return rosgraph.Master(self.caller_id)

    def topic_types(self) -> list[tuple[str, str]]:
        return [(t, k) for t, k in self._master().getTopicTypes()]

    def system_state(self) -> SystemState:
        pubs, subs, srvs = self._master().getSystemState()
        return list(pubs), list(subs), list(srvs)

    def service_type(self, service: str) -> str:
        return rosservice.get_service_type(service) or ""

    def service_uri(self, service: str) -> str:
        return self._master().lookupService(service)

    def get_param(self, name: str) -> Any:
        return self._master().getParam(name)

    def set_param(self, name: str, value: Any) -> None:
        self._master().setParam(name, value)

    def has_param(self, name: str) -> bool:
        return bool(self._master().hasParam(name))

    def delete_param(self, name: str) -> None:
        self._master().deleteParam(name)

    def param_names(self) -> list[str]:
        return list(self._master().getParamNames())

    def search_param(self, name: str) -> str:
        return self._master().searchParam(name) or ""

    def now(self) -> tuple[int, int]:
        stamp = rospy.get_rostime()
        return stamp.secs, stamp.nsecs


class RosBackend:
    def __init__(self, config: Any, loop: asyncio.AbstractEventLoop, workers: concurrent.futures.Executor) -> None:
        self.config = config
        self.loop = loop
        self.workers = workers
        self.poster = LoopPoster(loop)
        self.now: convert.Clock = rospy.Time.now
        self.feeds: dict[str, TopicFeed] = {}
        self.publishers: dict[str, PublisherHandle] = {}
        self._creating: dict[str, asyncio.Future] = {}
        self.served: dict[str, ServedService] = {}
        self._service_types: dict[str, type] = {}
        self._proxies: dict[str, list[rospy.ServiceProxy]] = {}
        self._proxy_lock = threading.Lock()
        self.api = RosApi(MasterGraph(rospy.get_name()), hidden=[rospy.get_name() + "/auth_secret"])

    async def _blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await self.loop.run_in_executor(self.workers, lambda: fn(*args, **kwargs))

    async def _topic_type(self, topic: str) -> str | None:
        types = await self._blocking(lambda: dict(rosgraph.Master(rospy.get_name()).getTopicTypes()))
        return types.get(topic)

    # -- publishers --------------------------------------------------------------------------------------------
    async def acquire_publisher(self, topic: str, type_name: str | None, latch: bool, queue_size: int,
                                owner: object) -> PublisherHandle:
        while topic in self._creating:  # another client is creating it right now
            await asyncio.shield(self._creating[topic])
        handle = self.publishers.get(topic)
        if handle is None:
            known = await self._topic_type(topic)
            if not type_name:
                if not known or known == "*":
                    raise NotFoundError(f"cannot publish on {topic}: its type is unknown (advertise it with a type)")
                type_name = known
            cls = _message_class(type_name)
            if known and known not in ("*", cls._type):
                raise BridgeError(f"{topic} already exists with type {known}, not {cls._type}")
            handle = await self._create_publisher(topic, cls, latch, queue_size)
        elif type_name and convert.normalize_type(type_name) != handle.type_name:
            raise BridgeError(f"{topic} is already advertised as {handle.type_name}, not {type_name}")
        handle.owners.add(id(owner))
        return handle

    async def _create_publisher(self, topic: str, cls: type, latch: bool, queue_size: int) -> PublisherHandle:
        created: asyncio.Future = self.loop.create_future()
        self._creating[topic] = created
        try:
            publisher = await self._blocking(rospy.Publisher, topic, cls, latch=latch, queue_size=None)
            handle = PublisherHandle(topic, cls, publisher, self.now, queue_size)
            self.publishers[topic] = handle
            return handle
        finally:
            del self._creating[topic]
            created.set_result(None)

    def release_publisher(self, handle: PublisherHandle, owner: object) -> None:
        handle.owners.discard(id(owner))
        if not handle.owners and self.publishers.get(handle.topic) is handle:
            del self.publishers[handle.topic]
            self.workers.submit(handle.close)

    def publish(self, handle: PublisherHandle, msg: dict[str, Any]) -> None:
        try:
            handle.publish(msg)
        except rospy.ROSException as exc:
            raise BridgeError(f"publish on {handle.topic} failed: {exc}") from exc

    # -- subscribers -------------------------------------------------------------------------------------------
    async def subscribe(self, topic: str, type_name: str | None, sink: Any) -> str:
        feed = self.feeds.get(topic)
        if feed is None:
            if not type_name:
                type_name = await self._topic_type(topic)
                if not type_name or type_name == "*":
                    raise NotFoundError(f"cannot subscribe to {topic}: nothing publishes it yet, give its type")
            feed = self.feeds.get(topic)  # another client may have got here while we asked the master
        if feed is None:
            cls = _message_class(type_name)
            feed = TopicFeed(topic, cls, self.poster)
            feed.ready = self.loop.create_future()
            self.feeds[topic] = feed
            try:
                feed.subscriber = await self._blocking(rospy.Subscriber, topic, cls, feed.callback,
                                                       queue_size=None, tcp_nodelay=True)
            except Exception as exc:
                if self.feeds.get(topic) is feed:
                    del self.feeds[topic]
                feed.ready.set_exception(BridgeError(f"cannot subscribe to {topic}: {exc}"))
                feed.ready.exception()  # retrieved: nobody else may be waiting
                raise BridgeError(f"cannot subscribe to {topic}: {exc}") from exc
            feed.ready.set_result(None)
        else:
            if type_name and convert.normalize_type(type_name) != feed.type_name:
                raise BridgeError(f"{topic} is subscribed as {feed.type_name}, not {type_name}")
            await asyncio.shield(feed.ready)
        feed.sinks.append(sink)
        feed.wants_stamp = feed.wants_stamp or sink.wants_raw
        if feed.latched is not None:
            sink.offer(feed.latched)
        return feed.type_name

    def unsubscribe(self, topic: str, sink: Any) -> None:
        feed = self.feeds.get(topic)
        if feed is None or sink not in feed.sinks:
            return
        feed.sinks.remove(sink)
        feed.wants_stamp = any(s.wants_raw for s in feed.sinks)
        if not feed.sinks:
            del self.feeds[topic]
            if feed.subscriber is not None:
                self.workers.submit(feed.subscriber.unregister)

    # -- service calls -----------------------------------------------------------------------------------------
    async def _service_class(self, service: str, type_name: str | None) -> type:
        if type_name:
            return _service_class(type_name)
        cls = self._service_types.get(service)
        if cls is None:
            try:
                found = await self._blocking(rosservice.get_service_type, service)
            except rosservice.ROSServiceIOException as exc:
                raise NotFoundError(f"{service}: cannot reach the service ({exc})") from exc
            if not found:
                raise NotFoundError(f"{service}: no such service")
            cls = self._service_types[service] = _service_class(found)
        return cls

    def _take_proxy(self, service: str, cls: type) -> tuple[rospy.ServiceProxy, bool]:
        with self._proxy_lock:
            idle = self._proxies.get(service)
            while idle:
                proxy = idle.pop()
                if proxy.request_class is cls._request_class:
                    return proxy, True
                proxy.close()
        return rospy.ServiceProxy(service, cls, persistent=True), False

    def _return_proxy(self, service: str, proxy: rospy.ServiceProxy) -> None:
        with self._proxy_lock:
            idle = self._proxies.setdefault(service, [])
            if len(idle) < 4:
                idle.append(proxy)
                return
        proxy.close()

    def _call_blocking(self, service: str, cls: type, request: Any) -> Any:
        """On a worker: a persistent connection is reused; a stale one (server restarted) is retried once."""
        for attempt in (1, 2):
            proxy, reused = self._take_proxy(service, cls)
            try:
                response = proxy.call(request)
            except rospy.ServiceException as exc:
                proxy.close()
                if reused and attempt == 1 and "transport error" in str(exc).lower():
                    continue
                self._service_types.pop(service, None)
                raise BridgeError(f"{service}: {exc}") from exc
            except (rospy.ROSException, OSError, rospy.exceptions.TransportException) as exc:
                proxy.close()
                if reused and attempt == 1:
                    continue
                self._service_types.pop(service, None)
                raise BridgeError(f"{service}: {exc}") from exc
            except Exception:
                proxy.close()
                raise
            self._return_proxy(service, proxy)
            return response
        raise BridgeError(f"{service}: unreachable")

    async def call_service(self, service: str, type_name: str | None, args: Any, timeout: float) -> Any:
        started = time.monotonic()
        cls = await asyncio.wait_for(self._service_class(service, type_name), timeout)
        request = convert.args_to_request(cls._request_class, args, self.now)
        remaining = max(0.01, timeout - (time.monotonic() - started))
        future = self.loop.run_in_executor(self.workers, self._call_blocking, service, cls, request)
        try:
            response = await asyncio.wait_for(future, remaining)
        except TimeoutError as exc:
            self._abandon(service)
            raise BridgeError(f"{service}: no answer within {timeout:.1f}s") from exc
        return convert.to_json(response)

    def _abandon(self, service: str) -> None:
        """After a timeout: drop idle connections to that server (the busy one is closed by its worker)."""
        with self._proxy_lock:
            for proxy in self._proxies.pop(service, []):
                proxy.close()

    async def rosapi(self, service: str, args: Any, rules: RoleRules) -> Any:
        return await self._blocking(self.rosapi_call, service, args, rules)

    def rosapi_call(self, service: str, args: Any, rules: RoleRules) -> Any:
        return self.api.call(service, args, rules)

    # -- services served by clients ----------------------------------------------------------------------------
    async def advertise_service(self, service: str, type_name: str, provider: Any) -> None:
        cls = _service_class(type_name)
        served = self.served.get(service)
        if served is not None:
            if served.type_name != cls._type:
                raise BridgeError(f"{service} is already served through the bridge as {served.type_name}")
            previous, served.provider = served.provider, provider
            if previous is not provider and previous is not None:
                log.warning("bridge: %s now served by client %s (was %s)", service, provider.peer, previous.peer)
                previous.service_taken(service)
            return
        served = self.served[service] = ServedService(service, cls, provider, self)
        try:
            served.server = await self._blocking(rospy.Service, service, cls, served.handle)
        except Exception as exc:
            if self.served.get(service) is served:
                del self.served[service]
            raise BridgeError(f"cannot serve {service}: {exc}") from exc

    def unadvertise_service(self, service: str, provider: Any) -> None:
        served = self.served.get(service)
        if served is None or served.provider is not provider:
            return
        del self.served[service]
        served.provider = None
        if served.server is not None:
            self.workers.submit(served.server.shutdown, "unadvertised by its client")

    def shutdown(self) -> None:
        for feed in self.feeds.values():
            if feed.subscriber is not None:
                feed.subscriber.unregister()
        for handle in self.publishers.values():
            handle.close()
        for served in self.served.values():
            if served.server is not None:
                served.server.shutdown("bridge shutting down")
        with self._proxy_lock:
            for proxies in self._proxies.values():
                for proxy in proxies:
                    proxy.close()
            self._proxies.clear()


def _message_class(type_name: str) -> type:
    try:
        return convert.message_class(type_name)
    except TypeNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc


def _service_class(type_name: str) -> type:
    try:
        return convert.service_class(type_name)
    except TypeNotFoundError as exc:
        raise NotFoundError(str(exc)) from exc
