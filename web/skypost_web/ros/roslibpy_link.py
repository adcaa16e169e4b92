"""RosLink over roslibpy (rosbridge protocol v2, Twisted transport).

One instance per process (Twisted's reactor cannot be restarted in a process): created lazily by the Flask
extension, it reconnects by itself. At every (re)connect the first message is a fresh `auth` op carrying our
HS256 token as `mac` (docs/interfaces.md, Bridge authentication); roslibpy then re-sends our subscriptions and
advertisements. Every call has a timeout, and a call while disconnected fails at once instead of being queued.
"""
from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import roslibpy
from roslibpy.core import RosTimeoutError, ServiceException

from skypost_web.ros.link import LinkDownError, LinkTimeoutError, Message, RosLink, ServiceFailedError, ServiceHandler
from skypost_web.security import bridge_token

log = logging.getLogger(__name__)
TokenFactory = Callable[[], tuple[str, float]]  # -> (token, expiry as epoch seconds)


class RoslibpyLink(RosLink):
    def __init__(self, url: str, token_factory: TokenFactory, role: str = "service", timeout: float = 5.0,
                 max_reconnect_delay: float = 5.0) -> None:
        self.url = url
        self.token_factory = token_factory
        self.role = role
        self.timeout = timeout
        self.max_reconnect_delay = max_reconnect_delay
        self._ros: roslibpy.Ros | None = None
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._connect_callbacks: list[Callable[[], None]] = []
        self._keep: list[Any] = []  # topics and services, alive as long as the link
        self.connections = 0

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RoslibpyLink:
        secret, ttl = config["BRIDGE_SECRET"], config["BRIDGE_SERVICE_TOKEN_TTL"]

        def token() -> tuple[str, float]:
            value, expires = bridge_token(secret, "skypost-web", "service", ttl)
            return value, expires.timestamp()

        return cls(config["BRIDGE_URL"], token, "service", config["BRIDGE_TIMEOUT"],
                   config["BRIDGE_MAX_RECONNECT_DELAY"])

    # connection -----------------------------------------------------------------------------------------------
    def start(self) -> None:
        with self._lock:
            if self._ros is not None:
                return
            ros = roslibpy.Ros(self.url)  # a full ws:// URL with the port None
            ros.factory.maxDelay = self.max_reconnect_delay
            ros.on("ready", self._on_ready)  # registered before any subscription: auth goes out first
            ros.on("close", self._on_close)
            ros.factory.manager.run()  # the reactor thread (started once per process)
            self._ros = ros

    def _on_ready(self, proto: Any) -> None:
        handlers = getattr(proto, "_message_handlers", None)
        if isinstance(handlers, dict) and handlers.get("status") is None:
            handlers["status"] = self._on_bridge_status  # roslibpy has no handler for the bridge's `status` op
        token, expires = self.token_factory()
        proto.send_ros_message(roslibpy.Message({
            "op": "auth", "mac": token, "client": "skypost-web", "dest": self.url, "rand": secrets.token_hex(8),
            "t": time.time(), "level": self.role, "end": expires}))
        self.connections += 1
        self._ready.set()
        log.info("bridge %s connected (connection %d)", self.url, self.connections)
        for callback in list(self._connect_callbacks):
            self._ros.call_in_thread(callback)

    def _on_bridge_status(self, message: dict) -> None:
        level = logging.WARNING if message.get("level") in ("error", "warning") else logging.DEBUG
        log.log(level, "bridge %s: %s", message.get("level", "status"), message.get("msg", ""))

    def _on_close(self, _proto: Any) -> None:
        if self._ready.is_set():
            log.warning("bridge %s disconnected; reconnecting", self.url)
        self._ready.clear()

    def connected(self) -> bool:
        return self._ros is not None and self._ready.is_set() and bool(self._ros.is_connected)

    def wait_connected(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def close(self) -> None:
        ros = self._ros
        if ros is not None and ros.is_connected:
            try:
                ros.close(timeout=self.timeout)
            except RosTimeoutError:
                log.warning("bridge %s did not close in time", self.url)
        self._ready.clear()

    # ROS operations -------------------------------------------------------------------------------------------
    def call(self, service: str, service_type: str, request: Message, timeout: float | None = None) -> Message:
        if not self.connected():
            raise LinkDownError(f"bridge {self.url} not connected")
        client = roslibpy.Service(self._ros, service, service_type)
        try:
            response = client.call(roslibpy.ServiceRequest(request), timeout=timeout or self.timeout)
        except RosTimeoutError as exc:
            raise LinkTimeoutError(f"{service}: no answer within {timeout or self.timeout:.1f}s") from exc
        except ServiceException as exc:
            raise ServiceFailedError(f"{service}: {exc}") from exc
        return dict(response)

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None],
                  queue_length: int = 0) -> None:
        self.start()
        listener = roslibpy.Topic(self._ros, topic, msg_type, queue_length=queue_length)
        listener.subscribe(lambda message: callback(dict(message)))
        self._keep.append(listener)

    def advertise_service(self, service: str, service_type: str, handler: ServiceHandler) -> None:
        self.start()
        server = roslibpy.Service(self._ros, service, service_type)

        def serve(request: dict, response: dict) -> bool:
            try:
                response.update(handler(dict(request)))
            except Exception:  # the boundary: a failing handler answers result=false, never kills the link
                log.exception("%s handler failed", service)
                return False
            return True

        server.advertise(serve)
        self._keep.append(server)

    def on_connect(self, callback: Callable[[], None]) -> None:
        self._connect_callbacks.append(callback)
        if self.connected():
            self._ros.call_in_thread(callback)
