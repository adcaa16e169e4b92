"""RosLink: what the web app needs from ROS, independent of how it gets there (roslibpy, or a fake in tests)."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
ServiceHandler = Callable[[Message], Message]


class LinkError(Exception):
    """A call through the bridge did not produce an answer."""


class LinkDownError(LinkError):
    """The bridge is not connected right now."""


class LinkTimeoutError(LinkError):
    """The bridge did not answer within the call's timeout."""


class ServiceFailedError(LinkError):
    """The ROS service call failed on the ROS side (no such service, exception in the server, refused)."""


class RosLink(ABC):
    """One long-lived connection to the bridge per process; every call has a timeout."""

    @abstractmethod
    def start(self) -> None:
        """Begin connecting (non-blocking, idempotent); reconnects by itself afterwards."""

    @abstractmethod
    def connected(self) -> bool:
        """True while the bridge is connected (and authenticated as far as we know)."""

    @abstractmethod
    def call(self, service: str, service_type: str, request: Message, timeout: float | None = None) -> Message:
        """Call a ROS service; raise LinkDownError, LinkTimeoutError or ServiceFailedError."""

    @abstractmethod
    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None],
                  queue_length: int = 0) -> None:
        """Receive every message of `topic` (again after each reconnect)."""

    @abstractmethod
    def advertise_service(self, service: str, service_type: str, handler: ServiceHandler) -> None:
        """Serve a ROS service: handler(request) -> response (again after each reconnect)."""

    @abstractmethod
    def on_connect(self, callback: Callable[[], None]) -> None:
        """Run `callback` (on a worker thread) after every successful (re)connection."""

    @abstractmethod
    def close(self) -> None:
        """Drop the connection; the link cannot be used afterwards."""


class NoLink(RosLink):
    """ROS_LINK=none: the app runs without ROS; every call reports the link as down."""

    def start(self) -> None:
        return None

    def connected(self) -> bool:
        return False

    def call(self, service: str, service_type: str, request: Message, timeout: float | None = None) -> Message:
        raise LinkDownError("no ROS link configured (ROS_LINK=none)")

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None],
                  queue_length: int = 0) -> None:
        return None

    def advertise_service(self, service: str, service_type: str, handler: ServiceHandler) -> None:
        return None

    def on_connect(self, callback: Callable[[], None]) -> None:
        return None

    def close(self) -> None:
        return None
