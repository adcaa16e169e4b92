"""rosserial wire format, protocol revision 0xFE (what rosserial_python's serial_node speaks). Pure: no I/O, no ROS.

Frame: 0xFF 0xFE len_lo len_hi len_chk topic_lo topic_hi payload... msg_chk, where
len_chk = 255 - ((len_lo + len_hi) % 256) and msg_chk = 255 - ((topic_lo + topic_hi + sum(payload)) % 256).
The payload is the ROS 1 serialization of a message (little-endian fields in order, strings as uint32 length + bytes).

`FrameDecoder` turns a byte stream into frames and survives anything: garbage before or between frames, a header
whose checksum fails, a body with a bad checksum, a frame cut off in the middle. Whenever a candidate frame turns out
wrong it resumes the search one byte after the candidate's start, so a real frame hidden inside the rejected bytes is
still found.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

SYNC = 0xFF
PROTOCOL_REVISION = 0xFE
HEADER = bytes((SYNC, PROTOCOL_REVISION))
HEADER_SIZE = 7  # sync, revision, len_lo, len_hi, len_chk, topic_lo, topic_hi
MAX_LENGTH = 0xFFFF


class TopicId(IntEnum):
    """Reserved topic ids of rosserial_msgs/TopicInfo; user topics use ids >= 100."""

    PUBLISHER = 0
    SUBSCRIBER = 1
    SERVICE_SERVER = 2
    SERVICE_SERVER_RESPONSE = 3
    SERVICE_CLIENT = 4
    SERVICE_CLIENT_RESPONSE = 5
    PARAMETER_REQUEST = 6
    LOG = 7
    TIME = 10
    TX_STOP = 11


FIRST_USER_TOPIC = 100


class LogLevel(IntEnum):
    """rosserial_msgs/Log levels."""

    DEBUG = 0
    INFO = 1
    WARN = 2
    ERROR = 3
    FATAL = 4


class CodecError(ValueError):
    """Bytes that are not what they claim to be (a truncated field, a frame too long to encode)."""


def checksum(data: bytes) -> int:
    """rosserial's checksum byte: the sum of `data` plus this byte is 255 modulo 256."""
    return 255 - (sum(data) % 256)


@dataclass(frozen=True)
class Frame:
    topic: int
    payload: bytes = b""


def encode_frame(topic: int, payload: bytes = b"") -> bytes:
    """One frame on the wire."""
    if not 0 <= topic <= 0xFFFF:
        raise CodecError(f"topic id {topic} does not fit in uint16")
    if len(payload) > MAX_LENGTH:
        raise CodecError(f"payload of {len(payload)} bytes does not fit in a frame (max {MAX_LENGTH})")
    length = struct.pack("<H", len(payload))
    topic_bytes = struct.pack("<H", topic)
    return HEADER + length + bytes((checksum(length),)) + topic_bytes + payload + bytes(
        (checksum(topic_bytes + payload),))


TOPIC_REQUEST = encode_frame(TopicId.PUBLISHER)  # FF FE 00 00 FF 00 00 FF: "send me your topics"
TX_STOP = encode_frame(TopicId.TX_STOP)


@dataclass(frozen=True)
class Rejected:
    """Bytes the decoder threw away, and why (for counters and throttled logs)."""

    reason: str
    size: int


# Why bytes were thrown away
GARBAGE = "garbage"                   # bytes outside any frame
BAD_REVISION = "bad_revision"         # 0xFF followed by another revision byte (an older rosserial client?)
BAD_LENGTH_CHECKSUM = "bad_length_checksum"
TOO_LONG = "too_long"                 # a length over the decoder's limit
BAD_CHECKSUM = "bad_checksum"         # the body's checksum failed
TIMEOUT = "timeout"                   # a frame that did not complete in time


class FrameDecoder:
    """Byte stream -> frames. `feed` takes any chunk (a byte, half a frame, three frames and garbage).

    `now` (seconds, any monotonic clock) lets it give up on a frame whose body does not arrive within
    `body_timeout` of its header; call `feed(b"", now)` on idle ticks so a stalled frame is dropped even when no
    more bytes come.
    """

    def __init__(self, max_payload: int = 8192, body_timeout: float = 0.5) -> None:
        if not 0 < max_payload <= MAX_LENGTH:
            raise ValueError(f"max_payload must be 1..{MAX_LENGTH}, got {max_payload}")
        self.max_payload = max_payload
        self.body_timeout = body_timeout
        self._buffer = bytearray()
        self._pending_since: float | None = None  # when the frame at the head of the buffer was first seen whole-headed

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        self._buffer.clear()
        self._pending_since = None

    def feed(self, data: bytes, now: float = 0.0) -> list[Frame | Rejected]:
        self._buffer += data
        out: list[Frame | Rejected] = []
        while self._step(now, out):
            pass
        return out

    def _drop(self, count: int, reason: str, out: list[Frame | Rejected]) -> None:
        del self._buffer[:count]
        self._pending_since = None
        if out and isinstance(out[-1], Rejected) and out[-1].reason == reason:
            out[-1] = Rejected(reason, out[-1].size + count)  # one entry per run of the same kind
        else:
            out.append(Rejected(reason, count))

    def _step(self, now: float, out: list[Frame | Rejected]) -> bool:
        """Consumes what it can at the head of the buffer; False when it must wait for more bytes."""
        buf = self._buffer
        start = buf.find(SYNC)
        if start < 0:
            if buf:
                self._drop(len(buf), GARBAGE, out)
            return False
        if start > 0:
            self._drop(start, GARBAGE, out)
            return True
        if len(buf) < 2:
            return False
        if buf[1] != PROTOCOL_REVISION:
            self._drop(1, BAD_REVISION if buf[1] != SYNC else GARBAGE, out)
            return True
        if len(buf) < 5:
            return self._wait(now, out)
        if (buf[2] + buf[3] + buf[4]) % 256 != 255:
            self._drop(1, BAD_LENGTH_CHECKSUM, out)
            return True
        length = buf[2] | (buf[3] << 8)
        if length > self.max_payload:
            self._drop(1, TOO_LONG, out)
            return True
        total = HEADER_SIZE + length + 1
        if len(buf) < total:
            return self._wait(now, out)
        if sum(buf[5:total]) % 256 != 255:
            self._drop(1, BAD_CHECKSUM, out)
            return True
        frame = Frame(buf[5] | (buf[6] << 8), bytes(buf[HEADER_SIZE:total - 1]))
        del buf[:total]
        self._pending_since = None
        out.append(frame)
        return True

    def _wait(self, now: float, out: list[Frame | Rejected]) -> bool:
        if self._pending_since is None:
            self._pending_since = now
            return False
        if now - self._pending_since > self.body_timeout:
            self._drop(1, TIMEOUT, out)
            return True
        return False


# ---------------------------------------------------------------------------------------------- ROS serialization


class Reader:
    """Sequential reader of a ROS 1 serialized message."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._offset = 0

    def _take(self, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            raise CodecError(f"message truncated: wanted {size} bytes at offset {self._offset}, have "
                             f"{len(self._data) - self._offset}")
        chunk = self._data[self._offset:end]
        self._offset = end
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self._take(struct.calcsize("<" + fmt)))

    def string(self) -> str:
        (size,) = self.unpack("I")
        try:
            return self._take(size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"string is not UTF-8: {exc}") from exc

    def done(self) -> None:
        if self._offset != len(self._data):
            raise CodecError(f"{len(self._data) - self._offset} bytes left over after the message")


def pack_string(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack("<I", len(data)) + data


@dataclass(frozen=True)
class TopicInfo:
    """rosserial_msgs/TopicInfo: uint16 topic_id, string topic_name, string message_type, string md5sum,
    int32 buffer_size."""

    topic_id: int
    topic_name: str
    message_type: str
    md5sum: str
    buffer_size: int = 0

    def serialize(self) -> bytes:
        return (struct.pack("<H", self.topic_id) + pack_string(self.topic_name) + pack_string(self.message_type)
                + pack_string(self.md5sum) + struct.pack("<i", self.buffer_size))

    @classmethod
    def deserialize(cls, data: bytes) -> TopicInfo:
        reader = Reader(data)
        (topic_id,) = reader.unpack("H")
        name, message_type, md5sum = reader.string(), reader.string(), reader.string()
        (buffer_size,) = reader.unpack("i")
        reader.done()
        return cls(topic_id, name, message_type, md5sum, buffer_size)


@dataclass(frozen=True)
class LogRecord:
    """rosserial_msgs/Log: uint8 level, string msg."""

    level: int
    msg: str

    def serialize(self) -> bytes:
        return struct.pack("<B", self.level) + pack_string(self.msg)

    @classmethod
    def deserialize(cls, data: bytes) -> LogRecord:
        reader = Reader(data)
        (level,) = reader.unpack("B")
        msg = reader.string()
        reader.done()
        return cls(level, msg)


def encode_time(secs: int, nsecs: int) -> bytes:
    """std_msgs/Time: uint32 secs, uint32 nsecs."""
    return struct.pack("<II", secs & 0xFFFFFFFF, nsecs & 0xFFFFFFFF)


def decode_time(data: bytes) -> tuple[int, int]:
    reader = Reader(data)
    value = reader.unpack("II")
    reader.done()
    return value
