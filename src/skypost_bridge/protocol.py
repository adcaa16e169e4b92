"""The rosbridge v2 wire format: decoding incoming text, each op's fields with their types and defaults, and the
typed errors every handler raises. No I/O here."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import rosgraph.names

LEVELS = {"info": 1, "warning": 2, "error": 3, "none": 4}  # set_level thresholds; "none": no status at all
COMPRESSIONS = frozenset({"none", "png", "cbor", "cbor-raw"})
SERVICE_COMPRESSIONS = frozenset({"none", "png"})


class BridgeError(Exception):
    """A request the bridge refuses or cannot carry out; `level` is the status level it is reported at."""

    level = "error"


class ProtocolError(BridgeError):
    """The message is not valid rosbridge: garbage JSON, unknown op, a missing or mistyped field."""


class AccessDeniedError(BridgeError):
    """The client's role is not allowed to do this (or the client has not authenticated)."""


class NotFoundError(BridgeError):
    """A topic, service or type that does not exist (or whose type cannot be inferred)."""


class NothingToDoError(BridgeError):
    """Nothing done, nothing broken (e.g. unsubscribing from a topic the client never subscribed)."""

    level = "warning"


def parse(payload: bytes | str) -> dict[str, Any]:
    """A JSON object (its `op` unchecked, so that an error about it can still echo the `id`)."""
    try:
        message = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"not valid JSON: {exc}") from exc
    if not isinstance(message, dict):
        raise ProtocolError(f"expected a JSON object, got {type(message).__name__}")
    return message


def decode(payload: bytes | str) -> dict[str, Any]:
    message = parse(payload)
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError("missing or non-string field 'op'")
    return message


def message_id(message: Mapping[str, Any]) -> Any:
    """The client's `id` if it is one we can echo (string or number), else None."""
    value = message.get("id")
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return value
    return None


def resolve_name(name: str, what: str = "name") -> str:
    """A global ROS name (relative names are taken from the root, as the bridge runs there)."""
    if not name:
        raise ProtocolError(f"{what}: empty name")
    if not name.startswith("/"):
        name = "/" + name
    if not rosgraph.names.is_legal_name(name) or "~" in name or (name.endswith("/") and name != "/"):
        raise ProtocolError(f"{what}: {name!r} is not a legal ROS name")
    return name


# -- field checks ---------------------------------------------------------------------------------------------
Check = Callable[[str, Any], Any]


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def string(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"field '{name}': expected a string, got {_kind(value)}")
    return value


def ros_name(name: str, value: Any) -> str:
    return resolve_name(string(name, value), name)


def boolean(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"field '{name}': expected true or false, got {_kind(value)}")
    return value


def count(name: str, value: Any) -> int:
    """A non-negative integer (JS clients may send 100.0)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"field '{name}': expected a non-negative integer, got {value!r}")
    return value


def positive_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ProtocolError(f"field '{name}': expected a positive number, got {value!r}")
    return float(value)


def obj(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"field '{name}': expected an object, got {_kind(value)}")
    return value


def args_value(name: str, value: Any) -> Any:
    if value is not None and not isinstance(value, dict | list):
        raise ProtocolError(f"field '{name}': expected an object or a list, got {_kind(value)}")
    return value


def anything(name: str, value: Any) -> Any:
    return value


def one_of(choices: frozenset[str]) -> Check:
    def check(name: str, value: Any) -> str:
        if value not in choices:
            raise ProtocolError(f"field '{name}': expected one of {sorted(choices)}, got {value!r}")
        return value

    return check


def identifier(name: str, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ProtocolError(f"field '{name}': expected a string or a number, got {_kind(value)}")
    return value


@dataclass(frozen=True)
class OpSchema:
    required: Mapping[str, Check] = field(default_factory=dict)
    optional: Mapping[str, tuple[Check, Any]] = field(default_factory=dict)  # name -> (check, default)

    def validate(self, message: Mapping[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, check in self.required.items():
            if name not in message or message[name] is None:
                raise ProtocolError(f"missing field '{name}'")
            values[name] = check(name, message[name])
        for name, (check, default) in self.optional.items():
            value = message.get(name)
            values[name] = default if value is None else check(name, value)
        return values


SCHEMAS: dict[str, OpSchema] = {
    "auth": OpSchema({"mac": string}),
    "advertise": OpSchema({"topic": ros_name, "type": string},
                          {"latch": (boolean, False), "queue_size": (count, 100)}),
    "unadvertise": OpSchema({"topic": ros_name}),
    "publish": OpSchema({"topic": ros_name, "msg": obj}),
    "subscribe": OpSchema({"topic": ros_name},
                          {"type": (string, None), "throttle_rate": (count, 0), "queue_length": (count, 0),
                           "fragment_size": (count, 0), "compression": (one_of(COMPRESSIONS), "none")}),
    "unsubscribe": OpSchema({"topic": ros_name}),
    "call_service": OpSchema({"service": ros_name},
                             {"args": (args_value, None), "type": (string, None), "fragment_size": (count, 0),
                              "compression": (one_of(SERVICE_COMPRESSIONS), "none"),
                              "timeout": (positive_number, None)}),
    "advertise_service": OpSchema({"service": ros_name, "type": string}),
    "unadvertise_service": OpSchema({"service": ros_name}),
    "service_response": OpSchema({"id": identifier}, {"service": (string, ""), "values": (anything, None),
                                                      "result": (boolean, True)}),
    "set_level": OpSchema({"level": one_of(frozenset(LEVELS))}),
    "fragment": OpSchema({"id": identifier, "data": string, "num": count, "total": count}),
}
