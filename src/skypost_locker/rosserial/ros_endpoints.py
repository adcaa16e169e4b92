"""rospy side of a rosserial session: publishers and subscribers built from the device's TopicInfo.

The message class is loaded from the type name the device sent (roslib.message.get_message_class), and a topic whose
md5sum differs from the class's is refused: the device and the host would read each other's bytes differently.
"""
from __future__ import annotations

import io
from collections.abc import Callable

import roslib.message
import rospy

from .codec import LogLevel, TopicInfo
from .session import Subscription, TopicRefusedError

_LOGGERS = {
    LogLevel.DEBUG: rospy.logdebug,
    LogLevel.INFO: rospy.loginfo,
    LogLevel.WARN: rospy.logwarn,
    LogLevel.ERROR: rospy.logerr,
    LogLevel.FATAL: rospy.logfatal,
}


def message_class(info: TopicInfo) -> type:
    """The genpy class of the device's message type; TopicRefusedError when unknown or of another md5sum."""
    try:
        cls = roslib.message.get_message_class(info.message_type)
    except (ValueError, ImportError) as exc:
        raise TopicRefusedError(f"cannot load message type {info.message_type!r}: {exc}") from exc
    if cls is None:
        raise TopicRefusedError(f"message type {info.message_type!r} is not known on this host (is its package built "
                           f"and sourced?)")
    if cls._md5sum != info.md5sum:
        raise TopicRefusedError(f"md5sum mismatch for {info.message_type}: device has {info.md5sum}, host has "
                           f"{cls._md5sum}; rebuild the firmware or the messages so both use the same definition")
    return cls


class RosEndpoints:
    """Endpoints for `Session` through rospy. Topic names are resolved like any rospy name (relative names in the
    node's namespace)."""

    def __init__(self, queue_size: int = 10, log_prefix: str = "device") -> None:
        self.queue_size = queue_size
        self.log_prefix = log_prefix

    def publisher(self, info: TopicInfo) -> Callable[[bytes], None]:
        cls = message_class(info)
        publisher = rospy.Publisher(info.topic_name, cls, queue_size=self.queue_size)

        def publish(payload: bytes) -> None:
            message = cls()
            message.deserialize(payload)
            publisher.publish(message)

        return publish

    def subscriber(self, info: TopicInfo, send: Callable[[bytes], None]) -> Subscription:
        cls = message_class(info)

        def forward(message: object) -> None:
            buffer = io.BytesIO()
            message.serialize(buffer)  # type: ignore[attr-defined]
            send(buffer.getvalue())

        return rospy.Subscriber(info.topic_name, cls, forward, queue_size=self.queue_size)

    def log(self, level: int, text: str) -> None:
        _LOGGERS.get(LogLevel(level), rospy.loginfo)("%s: %s", self.log_prefix, text)

    def now(self) -> tuple[int, int]:
        stamp = rospy.Time.now()
        return stamp.secs, stamp.nsecs
