"""ROS 1 messages <-> JSON-ready Python values, for any message type loaded at run time (no rospy here).

ROS -> JSON is the hot path (every subscribed message), so each message class gets one converter function
generated from its field list and cached: nested messages, arrays, `uint8[]`/`char[]` as base64, time and duration
as `{secs, nsecs}`. JSON -> ROS validates as it goes and names the offending field: unknown fields are rejected,
missing fields take the ROS defaults, a missing `std_msgs/Header` (or its stamp) is filled with the current time.
"""
from __future__ import annotations

import base64
import binascii
import keyword
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import genpy
import roslib.message

Clock = Callable[[], genpy.Time]

INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1), "byte": (-(2**7), 2**7 - 1), "uint8": (0, 2**8 - 1), "char": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1), "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1),
}
FLOATS = frozenset({"float32", "float64"})
TIMES = frozenset({"time", "duration"})
BYTE_ARRAY_BASES = frozenset({"uint8", "char"})
PRIMITIVES = frozenset(INT_RANGES) | FLOATS | TIMES | {"bool", "string"}
HEADER_TYPE = "std_msgs/Header"
_ARRAY = re.compile(r"^(?P<base>[^\[\]]+)(?:\[(?P<size>\d*)\])?$")


class ConversionError(ValueError):
    """A value does not fit the ROS type; the message names the field path."""


class TypeNotFoundError(LookupError):
    """The ROS message or service type is unknown here (not built, misspelt)."""


@dataclass(frozen=True)
class FieldType:
    base: str  # "float64", "std_msgs/Header", ...
    is_array: bool
    size: int | None  # fixed array length; None for variable-length or scalar

    @property
    def is_bytes(self) -> bool:
        return self.is_array and self.base in BYTE_ARRAY_BASES

    @property
    def is_message(self) -> bool:
        return self.base not in PRIMITIVES


def parse_field_type(slot_type: str) -> FieldType:
    match = _ARRAY.match(slot_type)
    if match is None:
        raise TypeNotFoundError(f"unparseable field type {slot_type!r}")
    size_text = match.group("size")
    is_array = size_text is not None
    base = match.group("base")
    if base == "Header":
        base = HEADER_TYPE
    return FieldType(base, is_array, int(size_text) if size_text else None)


def normalize_type(type_name: str) -> str:
    """'pkg/Type', also accepting ROS 2 style 'pkg/msg/Type' and 'pkg/srv/Type'."""
    parts = [p for p in str(type_name).strip().split("/") if p]
    if len(parts) == 3 and parts[1] in ("msg", "srv"):
        parts = [parts[0], parts[2]]
    if len(parts) != 2 or not all(re.fullmatch(r"[A-Za-z][\w]*", p) for p in parts):
        raise TypeNotFoundError(f"bad type name {type_name!r} (expected package/Type)")
    return "/".join(parts)


_MESSAGE_CLASSES: dict[str, type] = {}
_SERVICE_CLASSES: dict[str, type] = {}


def message_class(type_name: str) -> type:
    name = normalize_type(type_name)
    cls = _MESSAGE_CLASSES.get(name)
    if cls is None:
        try:
            cls = roslib.message.get_message_class(name)
        except (ImportError, ValueError, AttributeError) as exc:
            raise TypeNotFoundError(f"unknown message type {name!r}: {exc}") from exc
        if cls is None:
            raise TypeNotFoundError(f"unknown message type {name!r}")
        _MESSAGE_CLASSES[name] = cls
    return cls


def register_message_class(cls: type) -> None:
    """Make a class generated at run time (genpy.dynamic, e.g. from a bag) known by its type name."""
    _MESSAGE_CLASSES[cls._type] = cls


def service_class(type_name: str) -> type:
    name = normalize_type(type_name)
    cls = _SERVICE_CLASSES.get(name)
    if cls is None:
        try:
            cls = roslib.message.get_service_class(name)
        except (ImportError, ValueError, AttributeError) as exc:
            raise TypeNotFoundError(f"unknown service type {name!r}: {exc}") from exc
        if cls is None:
            raise TypeNotFoundError(f"unknown service type {name!r}")
        _SERVICE_CLASSES[name] = cls
    return cls


def fields_of(cls: type) -> list[tuple[str, FieldType]]:
    return [(name, parse_field_type(t)) for name, t in zip(cls.__slots__, cls._slot_types, strict=False)]


# ---------------------------------------------------------------------------------------------------------------
# ROS -> JSON (generated per class, cached)

def _b64(value: Any) -> str:
    if isinstance(value, str):  # a str byte array only comes from hand-built messages
        value = value.encode("latin-1")
    elif not isinstance(value, bytes | bytearray | memoryview):
        value = bytes(value)
    return base64.b64encode(value).decode("ascii")


def _time(value: Any) -> dict[str, int]:
    return {"secs": value.secs, "nsecs": value.nsecs}


_TO_JSON: dict[type, Callable[[Any], dict[str, Any]]] = {}


def _attr(name: str) -> str:
    return f"getattr(m, {name!r})" if keyword.iskeyword(name) else f"m.{name}"


def to_json_converter(cls: type) -> Callable[[Any], dict[str, Any]]:
    """A function message -> dict of JSON-ready values, generated once per class."""
    converter = _TO_JSON.get(cls)
    if converter is not None:
        return converter
    namespace: dict[str, Any] = {"_b64": _b64, "_time": _time}
    items = []
    for index, (name, ftype) in enumerate(fields_of(cls)):
        value = _attr(name)
        if ftype.is_bytes:
            expr = f"_b64({value})"
        elif ftype.base in TIMES:
            expr = f"[_time(x) for x in {value}]" if ftype.is_array else f"_time({value})"
        elif ftype.is_message:
            sub = f"_c{index}"
            namespace[sub] = _LazyConverter(ftype.base)
            expr = f"[{sub}(x) for x in {value}]" if ftype.is_array else f"{sub}({value})"
        else:  # primitives and arrays of them (tuples serialise as arrays)
            expr = value
        items.append(f"{name!r}: {expr}")
    source = "def convert(m):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, f"<to_json {cls._type}>", "exec"), namespace)
    converter = namespace["convert"]
    _TO_JSON[cls] = converter
    for key, item in namespace.items():  # resolve nested converters now that this one is cached (recursion-safe)
        if isinstance(item, _LazyConverter):
            namespace[key] = to_json_converter(message_class(item.type_name))
    return converter


class _LazyConverter:
    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name


def to_json(message: Any) -> dict[str, Any]:
    return to_json_converter(type(message))(message)


# ---------------------------------------------------------------------------------------------------------------
# JSON -> ROS (validating)

def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _convert_int(base: str) -> Callable[[Any, str], int]:
    low, high = INT_RANGES[base]

    def convert(value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ConversionError(f"{path}: expected an integer ({base}), got {_describe(value)}")
        if not low <= value <= high:
            raise ConversionError(f"{path}: {value} is out of range for {base}")
        return value

    return convert


def _convert_float(value: Any, path: str) -> float:
    if value is None:  # JSON has no NaN; the ROS -> JSON direction writes NaN as null
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConversionError(f"{path}: expected a number, got {_describe(value)}")
    return float(value)


def _convert_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ConversionError(f"{path}: expected true or false, got {_describe(value)}")


def _convert_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConversionError(f"{path}: expected a string, got {_describe(value)}")
    return value


def _time_converter(cls: type) -> Callable[[Any, str], Any]:
    def convert(value: Any, path: str) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):  # seconds
            if cls is genpy.Time and value < 0:
                raise ConversionError(f"{path}: negative time {value}")
            return cls.from_sec(value)
        if not isinstance(value, dict):
            raise ConversionError(f"{path}: expected {{secs, nsecs}}, got {_describe(value)}")
        unknown = set(value) - {"secs", "nsecs", "sec", "nanosec"}
        if unknown:
            raise ConversionError(f"{path}: unknown field(s) {sorted(unknown)} (expected secs, nsecs)")
        secs = value.get("secs", value.get("sec", 0))
        nsecs = value.get("nsecs", value.get("nanosec", 0))
        for part, number in (("secs", secs), ("nsecs", nsecs)):
            if isinstance(number, bool) or not isinstance(number, int):
                raise ConversionError(f"{path}.{part}: expected an integer, got {_describe(number)}")
        try:
            return cls(secs, nsecs)
        except (TypeError, ValueError) as exc:
            raise ConversionError(f"{path}: {exc}") from exc

    return convert


def _convert_bytes(size: int | None) -> Callable[[Any, str], bytes]:
    def convert(value: Any, path: str) -> bytes:
        if isinstance(value, str):
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ConversionError(f"{path}: not valid base64 ({exc})") from exc
        elif isinstance(value, list):
            if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
                raise ConversionError(f"{path}: expected a base64 string or a list of bytes 0..255")
            data = bytes(value)
        else:
            raise ConversionError(f"{path}: expected a base64 string, got {_describe(value)}")
        if size is not None and len(data) != size:
            raise ConversionError(f"{path}: expected exactly {size} bytes, got {len(data)}")
        return data

    return convert


_MISSING = object()
FromJson = Callable[..., Any]  # (data, path="msg", now=None) -> message instance


def _not_object(data: Any, path: str, type_name: str) -> None:
    raise ConversionError(f"{path}: expected an object for {type_name}, got {_describe(data)}")


def _unknown(data: dict[str, Any], path: str, cls: type) -> None:
    unknown = sorted(set(data) - set(cls.__slots__))
    raise ConversionError(f"{path}: unknown field(s) {unknown} for {cls._type}")


def _default_source(ftype: FieldType, index: int, namespace: dict[str, Any]) -> str:
    """Python source for a fresh default value of a field (what genpy's constructor would set)."""
    if ftype.is_bytes:
        return f"bytes({ftype.size})" if ftype.size else "b''"
    if ftype.is_array:
        if not ftype.size:
            return "[]"
        item = _default_source(FieldType(ftype.base, False, None), index, namespace)
        return f"[{item} for _ in range({ftype.size})]"
    if ftype.base in INT_RANGES:
        return "0"
    if ftype.base in FLOATS:
        return "0.0"
    if ftype.base == "bool":
        return "False"
    if ftype.base == "string":
        return "''"
    if ftype.base in TIMES:
        return "_Time()" if ftype.base == "time" else "_Duration()"
    namespace[f"_m{index}"] = message_class(ftype.base)
    return f"_m{index}()"


def _scalar_converter(base: str) -> Callable[..., Any]:
    if base in INT_RANGES:
        return _convert_int(base)
    if base in FLOATS:
        return _convert_float
    if base == "bool":
        return _convert_bool
    if base == "string":
        return _convert_string
    if base == "time":
        return _time_converter(genpy.Time)
    if base == "duration":
        return _time_converter(genpy.Duration)
    return from_json_converter(message_class(base))


def _array_converter(ftype: FieldType) -> Callable[..., Any]:
    if ftype.is_bytes:
        bytes_converter = _convert_bytes(ftype.size)
        return lambda value, path, now=None: bytes_converter(value, path)
    item = _scalar_converter(ftype.base)
    nested = ftype.is_message
    size = ftype.size

    def convert(value: Any, path: str, now: Clock | None = None) -> list[Any]:
        if not isinstance(value, list | tuple):
            raise ConversionError(f"{path}: expected an array, got {_describe(value)}")
        if size is not None and len(value) != size:
            raise ConversionError(f"{path}: expected exactly {size} elements, got {len(value)}")
        if nested:
            return [item(v, f"{path}[{i}]", now) for i, v in enumerate(value)]
        return [item(v, f"{path}[{i}]") for i, v in enumerate(value)]

    return convert


def _fast_check(ftype: FieldType, index: int) -> str | None:
    """An inline test for the common, valid case of a primitive field (the converter handles the rest)."""
    if ftype.is_array:
        return None
    if ftype.base == "string":
        return "type(v) is str"
    if ftype.base == "bool":
        return "type(v) is bool"
    if ftype.base in FLOATS:
        return "type(v) is float"
    if ftype.base in INT_RANGES:
        low, high = INT_RANGES[ftype.base]
        return f"type(v) is int and {low} <= v <= {high}"
    return None


_FROM_JSON: dict[type, FromJson] = {}


def _assign(name: str, target: str | None, expr: str) -> str:
    return f"{target} = {expr}" if target else f"setattr(m, {name!r}, {expr})"


def from_json_converter(cls: type) -> FromJson:
    """A function (data, path="msg", now=None) -> `cls` instance, generated once per class. It checks every
    field (unknown ones are refused), gives missing ones their ROS default and, when `now` is given, fills a
    missing std_msgs/Header or header stamp with now()."""
    builder = _FROM_JSON.get(cls)
    if builder is not None:
        return builder
    namespace: dict[str, Any] = {"_cls": cls, "_new": object.__new__, "_MISSING": _MISSING, "_Time": genpy.Time,
                                 "_Duration": genpy.Duration, "_not_object": _not_object, "_unknown": _unknown,
                                 "_Header": None}
    lines = ["def build(data, path='msg', now=None):",
             "    if type(data) is not dict:",
             "        if data is None:",
             "            data = {}",
             "        else:",
             f"            _not_object(data, path, {cls._type!r})",
             "    m = _new(_cls)",
             "    n = 0"]
    headers = []
    for index, (name, ftype) in enumerate(fields_of(cls)):
        target = f"m.{name}" if not keyword.iskeyword(name) else None
        default = _default_source(ftype, index, namespace)
        if ftype.is_array:
            namespace[f"_f{index}"] = _array_converter(ftype)
            call = f"_f{index}(v, path + {'.' + name!r}, now)"
        elif ftype.is_message:
            namespace[f"_f{index}"] = _scalar_converter(ftype.base)
            call = f"_f{index}(v, path + {'.' + name!r}, now)"
        else:
            namespace[f"_f{index}"] = _scalar_converter(ftype.base)
            call = f"_f{index}(v, path + {'.' + name!r})"
        check = _fast_check(ftype, index)
        value = f"v if {check} else {call}" if check else call
        lines += [f"    v = data.get({name!r}, _MISSING)",
                  "    if v is _MISSING:",
                  f"        {_assign(name, target, default)}",
                  "    else:",
                  "        n += 1",
                  f"        {_assign(name, target, value)}"]
        if ftype.base == HEADER_TYPE and not ftype.is_array:
            headers.append(name)
    lines += ["    if n != len(data):", "        _unknown(data, path, _cls)"]
    if headers:
        namespace["_Header"] = message_class(HEADER_TYPE)
        lines.append("    if now is not None:")
        for name in headers:
            lines += [f"        h = data.get({name!r})",
                      "        if h is None:",
                      f"            m.{name} = _Header(stamp=now())",
                      "        elif 'stamp' not in h:",
                      f"            m.{name}.stamp = now()"]
    lines.append("    return m")
    exec(compile("\n".join(lines) + "\n", f"<from_json {cls._type}>", "exec"), namespace)
    builder = _FROM_JSON[cls] = namespace["build"]
    return builder


def from_json(cls: type, data: Any, now: Clock | None = None, path: str = "msg") -> Any:
    """A `cls` instance from a JSON object; `now` (if given) fills missing headers and header stamps."""
    return from_json_converter(cls)(data, path, now)


def args_to_request(cls: type, args: Any, now: Clock | None = None) -> Any:
    """Service arguments as an object, a positional list (in field order) or nothing."""
    if args is None or args == []:
        args = {}
    elif isinstance(args, list | tuple):
        names = list(cls.__slots__)
        if len(args) > len(names):
            raise ConversionError(f"args: {len(args)} positional values for {len(names)} fields of {cls._type}")
        args = dict(zip(names, args, strict=False))
    return from_json(cls, args, now, path="args")
