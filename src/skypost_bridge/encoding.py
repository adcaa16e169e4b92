"""Outgoing encodings of the rosbridge protocol: JSON (shared by every subscriber of a topic), PNG-wrapped JSON,
CBOR with typed arrays, CBOR-RAW (the ROS serialization), and fragments. No rospy here."""
from __future__ import annotations

import base64
import io
import itertools
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import cbor2
import orjson

from skypost_bridge.convert import TIMES, fields_of, message_class, to_json_converter

# typed-array tags (RFC 8746), little-endian, as roslibjs decodes them
_TYPED_ARRAY = {
    "uint16": (69, "<%dH"), "uint32": (70, "<%dI"), "uint64": (71, "<%dQ"), "int8": (72, "<%db"),
    "byte": (72, "<%db"), "int16": (77, "<%dh"), "int32": (78, "<%di"), "int64": (79, "<%dq"),
    "float32": (85, "<%df"), "float64": (86, "<%dd"),
}
_NON_ASCII = re.compile(rb"[\x80-\xff]+")
_fragment_ids = itertools.count(1)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def ascii_json(data: bytes) -> bytes:
    """JSON text with every non-ASCII character as a \\u escape (PNG readers rebuild text byte by byte)."""
    def escape(match: re.Match[bytes]) -> bytes:
        out = []
        for char in match.group(0).decode("utf-8"):
            code = ord(char)
            if code > 0xFFFF:
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        return "".join(out).encode("ascii")

    return _NON_ASCII.sub(escape, data)


def png_bytes(data: bytes) -> bytes:
    """`data` as the pixels of an 8-bit RGB PNG (3 bytes a pixel, padded with newlines), as rosbridge does."""
    pixels = max(1, math.ceil(len(data) / 3))
    width = max(1, math.ceil(math.sqrt(pixels)))
    height = math.ceil(pixels / width)
    padded = data + b"\n" * (width * height * 3 - len(data))
    stride = width * 3
    raw = b"".join(b"\x00" + padded[row * stride:(row + 1) * stride] for row in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6))
            + chunk(b"IEND", b""))


def png_message(json_text: bytes) -> bytes:
    return dumps({"op": "png", "data": base64.b64encode(png_bytes(ascii_json(json_text))).decode("ascii")})


def fragments(json_text: bytes, size: int) -> Iterator[bytes]:
    """The rosbridge `fragment` ops that carry `json_text` in pieces of `size` characters."""
    text = json_text.decode("utf-8")
    total = max(1, math.ceil(len(text) / size))
    frag_id = f"fragment:{next(_fragment_ids)}"
    for num in range(total):
        yield dumps({"op": "fragment", "id": frag_id, "data": text[num * size:(num + 1) * size], "num": num,
                     "total": total})


# -- CBOR ---------------------------------------------------------------------------------------------------------
_TO_CBOR: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _cbor_array(base: str) -> Callable[[Any], Any]:
    tag, fmt = _TYPED_ARRAY[base]

    def convert(values: Any) -> Any:
        return cbor2.CBORTag(tag, struct.pack(fmt % len(values), *values))

    return convert


def to_cbor_converter(cls: type) -> Callable[[Any], dict[str, Any]]:
    """message -> CBOR-ready dict: byte arrays as byte strings, numeric arrays as typed arrays."""
    converter = _TO_CBOR.get(cls)
    if converter is not None:
        return converter
    parts: list[tuple[str, Callable[[Any], Any]]] = []
    for name, ftype in fields_of(cls):
        if ftype.is_bytes:
            parts.append((name, bytes))
        elif ftype.base in TIMES:
            def time_value(t: Any) -> dict[str, int]:
                return {"secs": t.secs, "nsecs": t.nsecs}
            parts.append((name, (lambda v, f=time_value: [f(t) for t in v]) if ftype.is_array else time_value))
        elif ftype.is_message:
            sub_cls = message_class(ftype.base)
            if ftype.is_array:
                parts.append((name, lambda v, c=sub_cls: [to_cbor_converter(c)(x) for x in v]))
            else:
                parts.append((name, lambda v, c=sub_cls: to_cbor_converter(c)(v)))
        elif ftype.is_array and ftype.base in _TYPED_ARRAY:
            parts.append((name, _cbor_array(ftype.base)))
        elif ftype.is_array:
            parts.append((name, list))
        else:
            parts.append((name, _identity))

    def convert(message: Any) -> dict[str, Any]:
        return {name: fn(getattr(message, name)) for name, fn in parts}

    _TO_CBOR[cls] = convert
    return convert


def _identity(value: Any) -> Any:
    return value


def serialize(message: Any) -> bytes:
    buffer = io.BytesIO()
    message.serialize(buffer)
    return buffer.getvalue()


class Frame:
    """One ROS message received on a topic, encoded at most once per encoding for all its subscribers."""

    __slots__ = ("_cbor", "_json", "_png", "_raw", "message", "stamp", "topic")

    def __init__(self, topic: str, message: Any, prefix: bytes | None = None,
                 stamp: tuple[int, int] | None = None) -> None:
        self.topic = topic
        self.message = message
        self.stamp = stamp  # receive time (secs, nsecs), needed by cbor-raw only
        if prefix is None:
            prefix = publish_prefix(topic)
        # the common case, done at once in the receiving thread: {"op":"publish","topic":...,"msg":{...}}
        self._json = prefix + dumps(to_json_converter(type(message))(message)) + b"}"
        self._png: bytes | None = None
        self._cbor: bytes | None = None
        self._raw: bytes | None = None

    @property
    def json(self) -> bytes:
        return self._json

    def encoded(self, compression: str) -> tuple[bytes, bool]:
        """(data, binary) for a subscription's compression."""
        if compression == "none":
            return self._json, False
        if compression == "png":
            if self._png is None:
                self._png = png_message(self._json)
            return self._png, False
        if compression == "cbor":
            if self._cbor is None:
                msg = to_cbor_converter(type(self.message))(self.message)
                self._cbor = cbor2.dumps({"op": "publish", "topic": self.topic, "msg": msg})
            return self._cbor, True
        if self._raw is None:  # cbor-raw
            secs, nsecs = self.stamp or (0, 0)
            self._raw = cbor2.dumps({"op": "publish", "topic": self.topic,
                                     "msg": {"secs": secs, "nsecs": nsecs, "bytes": serialize(self.message)}})
        return self._raw, True


def publish_prefix(topic: str) -> bytes:
    return b'{"op":"publish","topic":' + dumps(topic) + b',"msg":'
