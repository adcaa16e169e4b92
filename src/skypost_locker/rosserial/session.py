"""The host side of a rosserial session, without ROS and without I/O: negotiation, time sync, logs, sync loss.

The session is driven by whoever owns the serial link (`SerialLink` in a real host, plain calls in unit tests):
`connected(now)`, `frame(frame, now)`, `tick(now)`, `disconnected()`, `shutdown()`. It writes frames through the
`send` callable it was given and reaches ROS only through an `Endpoints` object (a rospy one in `ros_endpoints`, a
fake in tests). `now` is wall time from a monotonic clock: link timeouts must not follow ROS (sim) time.

It knows nothing about what the device is: topics, types and md5sums come from the device's TopicInfo messages.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .codec import (
    FIRST_USER_TOPIC,
    TOPIC_REQUEST,
    TX_STOP,
    CodecError,
    Frame,
    LogLevel,
    LogRecord,
    TopicId,
    TopicInfo,
    encode_frame,
    encode_time,
)


class TopicRefusedError(Exception):
    """The host cannot serve a topic the device announced (unknown type, md5 mismatch, ...)."""


class Subscription(Protocol):
    def unregister(self) -> None: ...


class Endpoints(Protocol):
    """What the session needs from ROS (or a test double)."""

    def publisher(self, info: TopicInfo) -> Callable[[bytes], None]:
        """A callable publishing one serialized message on the device's topic; raises TopicRefusedError."""

    def subscriber(self, info: TopicInfo, send: Callable[[bytes], None]) -> Subscription:
        """Subscribes to the topic; every message is serialized and passed to `send`; raises TopicRefusedError."""

    def log(self, level: int, text: str) -> None:
        """A log line from the device (rosserial_msgs/Log levels)."""

    def now(self) -> tuple[int, int]:
        """Current (ROS) time as (secs, nsecs), the answer to a time request."""


@dataclass(frozen=True)
class SessionConfig:
    sync_timeout: float = 15.0        # s without any valid frame from the device: sync lost, topics requested again
    request_retry: float = 2.0        # s between topic requests while the device does not answer
    name: str = "rosserial"           # prefix of log lines (which device)


@dataclass
class SessionStats:
    frames_in: int = 0
    frames_out: int = 0
    time_requests: int = 0
    negotiations: int = 0             # topic requests sent
    sync_losses: int = 0
    dropped_out: int = 0              # outgoing messages refused (too big for the device, link down, out of sync)
    unknown_topics: int = 0


@dataclass
class _Topic:
    info: TopicInfo
    publish: Callable[[bytes], None] | None = None
    subscription: Subscription | None = None


class Session:
    """One rosserial host session. Thread-safety: the owner calls connected/frame/tick/disconnected from one
    thread (the link's); `send_message` (from ROS callbacks) only reads immutable topic entries and calls `send`,
    which must be thread-safe."""

    def __init__(self, send: Callable[[bytes], bool], endpoints: Endpoints, config: SessionConfig | None = None,
                 logger: logging.Logger | None = None,
                 on_sync_change: Callable[[bool], None] | None = None) -> None:
        self._send = send
        self.endpoints = endpoints
        self.config = config or SessionConfig()
        self.log = logger or logging.getLogger("skypost.rosserial")
        self.on_sync_change = on_sync_change
        self.stats = SessionStats()
        self.connected_link = False
        self.synced = False
        self._topics: dict[int, _Topic] = {}
        self._refused: dict[int, str] = {}  # topic id -> why the host refused it (logged once)
        self._warned_unknown: set[int] = set()
        self._last_rx: float | None = None
        self._last_request: float | None = None
        self._handlers: dict[int, Callable[[Frame, float], None]] = {
            TopicId.PUBLISHER: self._on_publisher_info,
            TopicId.SUBSCRIBER: self._on_subscriber_info,
            TopicId.SERVICE_SERVER: self._on_unsupported,
            TopicId.SERVICE_SERVER_RESPONSE: self._on_unsupported,
            TopicId.SERVICE_CLIENT: self._on_unsupported,
            TopicId.SERVICE_CLIENT_RESPONSE: self._on_unsupported,
            TopicId.PARAMETER_REQUEST: self._on_unsupported,
            TopicId.LOG: self._on_log,
            TopicId.TIME: self._on_time,
        }

    # ------------------------------------------------------------------------------------------ link events

    def connected(self, now: float) -> None:
        self.connected_link = True
        self._last_rx = None
        self.request_topics(now)

    def disconnected(self) -> None:
        self.connected_link = False
        self._set_synced(False, "serial link closed")

    def shutdown(self) -> None:
        """Tells the device the host is going away (tx stop) and drops every ROS endpoint."""
        if self.connected_link:
            self._write(TX_STOP)
        self._set_synced(False, "host shutting down")
        for topic in self._topics.values():
            if topic.subscription is not None:
                topic.subscription.unregister()
        self._topics.clear()

    def request_topics(self, now: float) -> None:
        self._last_request = now
        self.stats.negotiations += 1
        self._write(TOPIC_REQUEST)

    def tick(self, now: float) -> None:
        if not self.connected_link:
            return
        if self.synced and self._last_rx is not None and now - self._last_rx > self.config.sync_timeout:
            self.stats.sync_losses += 1
            self.log.error("%s: lost sync with device (nothing for %.1f s), requesting topics again",
                           self.config.name, now - self._last_rx)
            self._set_synced(False, "lost sync")
            self.request_topics(now)
        elif not self.synced and (self._last_request is None or now - self._last_request >= self.config.request_retry):
            self.request_topics(now)

    def frame(self, frame: Frame, now: float) -> None:
        self.stats.frames_in += 1
        self._last_rx = now
        handler = self._handlers.get(frame.topic)
        if handler is not None:
            handler(frame, now)
        elif frame.topic >= FIRST_USER_TOPIC:
            self._on_user_message(frame, now)
        else:
            self.log.warning("%s: frame on reserved topic id %d ignored", self.config.name, frame.topic)

    # ------------------------------------------------------------------------------------------ outgoing

    def send_message(self, topic_id: int, payload: bytes) -> bool:
        """Sends one serialized message to the device; False (and a log line) when it cannot go."""
        topic = self._topics.get(topic_id)
        if not self.synced or topic is None:
            self.stats.dropped_out += 1
            self.log.warning("%s: message for topic id %d dropped: device not in sync", self.config.name, topic_id)
            return False
        limit = topic.info.buffer_size
        if limit > 0 and len(payload) > limit:
            self.stats.dropped_out += 1
            self.log.error("%s: message on %s (%d bytes) is larger than the device's buffer (%d bytes): dropped",
                           self.config.name, topic.info.topic_name, len(payload), limit)
            return False
        return self._write(encode_frame(topic_id, payload))

    def _write(self, data: bytes) -> bool:
        ok = self._send(data)
        if ok:
            self.stats.frames_out += 1
        else:
            self.stats.dropped_out += 1
        return ok

    # ------------------------------------------------------------------------------------------ handlers

    def _on_publisher_info(self, frame: Frame, now: float) -> None:
        info = self._topic_info(frame)
        if info is not None:
            self._add_topic(info, publisher=True)

    def _on_subscriber_info(self, frame: Frame, now: float) -> None:
        info = self._topic_info(frame)
        if info is not None:
            self._add_topic(info, publisher=False)

    def _topic_info(self, frame: Frame) -> TopicInfo | None:
        try:
            return TopicInfo.deserialize(frame.payload)
        except CodecError as exc:
            self.log.error("%s: malformed TopicInfo (%s) ignored", self.config.name, exc)
            return None

    def _add_topic(self, info: TopicInfo, publisher: bool) -> None:
        # Any TopicInfo answers our request: the device is talking rosserial with us, even when a topic is refused.
        self._set_synced(True, "topics negotiated")
        direction = "publishes" if publisher else "subscribes to"
        known = self._topics.get(info.topic_id)
        if known is not None and known.info == info and (known.publish is not None) == publisher:
            return  # the same topic again: the device renegotiated
        if info.topic_id < FIRST_USER_TOPIC:
            self.log.error("%s: device announced %s on reserved id %d: ignored", self.config.name,
                           info.topic_name, info.topic_id)
            return
        if known is not None and known.subscription is not None:
            known.subscription.unregister()
        self._topics.pop(info.topic_id, None)
        try:
            if publisher:
                entry = _Topic(info, publish=self.endpoints.publisher(info))
            else:
                entry = _Topic(info, subscription=self.endpoints.subscriber(
                    info, lambda payload, topic_id=info.topic_id: self.send_message(topic_id, payload)))
        except TopicRefusedError as exc:
            if self._refused.get(info.topic_id) != str(exc):
                self.log.error("%s: device %s %s [%s] (id %d), refused: %s", self.config.name, direction,
                               info.topic_name, info.message_type, info.topic_id, exc)
            self._refused[info.topic_id] = str(exc)
            return
        self._topics[info.topic_id] = entry
        self._refused.pop(info.topic_id, None)
        self.log.info("%s: device %s %s [%s] (id %d)", self.config.name, direction, info.topic_name,
                      info.message_type, info.topic_id)

    def _on_log(self, frame: Frame, now: float) -> None:
        try:
            record = LogRecord.deserialize(frame.payload)
        except CodecError as exc:
            self.log.warning("%s: malformed log message (%s)", self.config.name, exc)
            return
        level = record.level if LogLevel.DEBUG <= record.level <= LogLevel.FATAL else LogLevel.INFO
        self.endpoints.log(level, record.msg)

    def _on_time(self, frame: Frame, now: float) -> None:
        # The device asks (an empty or zero std_msgs/Time); the host answers with its current time.
        self.stats.time_requests += 1
        secs, nsecs = self.endpoints.now()
        self._write(encode_frame(TopicId.TIME, encode_time(secs, nsecs)))

    def _on_unsupported(self, frame: Frame, now: float) -> None:
        if frame.topic not in self._refused:
            self._refused[frame.topic] = "unsupported"
            self.log.error("%s: the device uses rosserial topic id %d (services/parameters), which this host does "
                           "not support: ignored", self.config.name, frame.topic)

    def _on_user_message(self, frame: Frame, now: float) -> None:
        topic = self._topics.get(frame.topic)
        if topic is None or topic.publish is None:
            self.stats.unknown_topics += 1
            if frame.topic in self._refused:
                return  # refused at negotiation and logged then
            if frame.topic not in self._warned_unknown:
                self._warned_unknown.add(frame.topic)
                self.log.warning("%s: message on unknown topic id %d: requesting topics", self.config.name,
                                 frame.topic)
            if self._last_request is None or now - self._last_request >= self.config.request_retry:
                self.request_topics(now)
            return
        try:
            topic.publish(frame.payload)
        except Exception as exc:  # a payload the message class cannot read: log it, keep the session
            self.log.error("%s: cannot publish a message on %s (%d bytes): %s", self.config.name,
                           topic.info.topic_name, len(frame.payload), exc)

    def _set_synced(self, synced: bool, why: str) -> None:
        if synced == self.synced:
            return
        self.synced = synced
        self.log.info("%s: %s (%s)", self.config.name, "in sync with the device" if synced else "out of sync", why)
        if self.on_sync_change is not None:
            self.on_sync_change(synced)

    @property
    def topics(self) -> dict[int, TopicInfo]:
        return {topic_id: topic.info for topic_id, topic in self._topics.items()}
