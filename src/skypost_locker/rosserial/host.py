"""A rosserial host: serial link + session + rospy endpoints, ready to embed in a node (or run as serial_node)."""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass

from .codec import FrameDecoder
from .link import Port, SerialLink, serial_opener, stable_port_path
from .ros_endpoints import RosEndpoints
from .session import Endpoints, Session, SessionConfig

LOG = logging.getLogger("rosout")  # rospy routes this logger to /rosout


@dataclass(frozen=True)
class HostConfig:
    port: str
    baud: int = 57600
    sync_timeout: float = 15.0     # s (wall) without a frame from the device before sync counts as lost
    request_retry: float = 2.0     # s between topic requests while the device does not answer
    reconnect_delay: float = 1.0   # s between attempts to open the port
    body_timeout: float = 0.5      # s a frame may take from its header to its checksum
    max_payload: int = 8192        # bytes; longer frames are garbage to us

    def validate(self) -> None:
        if not self.port:
            raise ValueError("port is empty")
        if self.baud <= 0:
            raise ValueError(f"baud must be positive, got {self.baud}")
        for name in ("sync_timeout", "request_retry", "reconnect_delay", "body_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


class RosserialHost:
    """Starts a reader thread on `config.port` (its /dev/serial/by-id alias when it has one) and bridges the
    device's topics to ROS. `shutdown()` tells the device to stop (tx stop) and closes the port."""

    def __init__(self, config: HostConfig, endpoints: Endpoints | None = None,
                 on_sync_change: Callable[[bool], None] | None = None,
                 opener: Callable[[], Port] | None = None, logger: logging.Logger = LOG) -> None:
        config.validate()
        self.config = config
        self.port = stable_port_path(config.port)
        if self.port != config.port:
            logger.info("rosserial: using %s for %s (stable across USB resets)", self.port, config.port)
        self.session = Session(self._send, endpoints or RosEndpoints(),
                               SessionConfig(config.sync_timeout, config.request_retry, name=self.port),
                               logger=logger, on_sync_change=on_sync_change)
        self.link = SerialLink(opener or serial_opener(self.port, config.baud), self.session, name=self.port,
                               decoder=FrameDecoder(config.max_payload, config.body_timeout),
                               reconnect_delay=config.reconnect_delay, logger=logger)

    def _send(self, data: bytes) -> bool:
        return self.link.write(data)

    def send(self, topic_name: str, message: object) -> bool:
        """Serializes a ROS message and sends it straight to the device on the topic it subscribed to under
        `topic_name` (its own name for it), bypassing ROS: for the node that embeds this host, so a command also goes
        out while rospy is shutting down. False when the device has no such topic or is out of sync."""
        for topic_id, info in self.session.topics.items():
            if info.topic_name == topic_name:
                buffer = io.BytesIO()
                message.serialize(buffer)  # type: ignore[attr-defined]
                return self.session.send_message(topic_id, buffer.getvalue())
        return False

    @property
    def synced(self) -> bool:
        return self.session.synced

    def start(self) -> None:
        self.link.start()

    def shutdown(self) -> None:
        self.link.stop(close=False)  # no more session calls from the reader thread
        self.session.shutdown()      # tx stop while the port is still open
        self.link.close()
