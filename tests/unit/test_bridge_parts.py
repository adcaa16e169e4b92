"""Bridge parts without ROS or sockets: allow-lists, tokens, config, the outbox, the wire format, encodings,
rosapi answers."""
from __future__ import annotations

import base64
import json
import struct
import time
import zlib
from pathlib import Path

import cbor2
import jwt
import orjson
import pytest
import yaml

from skypost_bridge import encoding, protocol
from skypost_bridge.acl import AccessControl, ConfigError
from skypost_bridge.auth import AuthError, issue_token, verify_token
from skypost_bridge.config import SECRET_ENV, read_config
from skypost_bridge.outbox import Outbox
from skypost_bridge.rosapi import RosApi, typedefs

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
SECRET = "unit-test-secret-of-at-least-32-bytes"


def shipped_access() -> AccessControl:
    return AccessControl.from_mapping(yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())["roles"])


# -- allow-lists -------------------------------------------------------------------------------------------------
def test_allow_lists_are_globs_and_nothing_else_is_allowed():
    access = AccessControl.from_mapping({"op": {"subscribe": ["/fleet/*", "drone_?/state"], "call": "/x"}})
    rules = access.role("op")
    assert rules.allows("subscribe", "/fleet/summary") and rules.allows("subscribe", "/fleet/a/b")
    assert rules.allows("subscribe", "/drone_1/state") and not rules.allows("subscribe", "/drone_10/state")
    assert rules.allows("call", "/x") and not rules.allows("call", "/xy")
    assert not rules.allows("publish", "/fleet/summary") and not rules.allows("advertise", "/x")
    assert access.role("nobody") is None


@pytest.mark.parametrize("roles", [
    [], {"r": []}, {"r": {"fly": ["*"]}}, {"r": {"call": [3]}}, {"r": {"call": [""]}},
])
def test_malformed_allow_lists_are_refused(roles):
    with pytest.raises(ConfigError):
        AccessControl.from_mapping(roles)


def test_shipped_roles():
    access = shipped_access()
    assert set(access.roles) == {"admin", "operator", "service", "locker", "customer", "anonymous"}
    service = access.role("service")
    assert service.allows("call", "/fleet/submit_delivery") and service.allows("advertise", "/skypost/validate_pickup")
    assert service.allows("subscribe", "/fleet/delivery_status") and not service.allows("publish", "/anything")
    assert not service.allows("params_set", "/skypost/world_file")
    customer = access.role("customer")
    assert not customer.allows("subscribe", "/fleet/summary") and not customer.allows("call", "/fleet/cancel_delivery")
    operator = access.role("operator")
    assert operator.allows("subscribe", "/drone_1/state") and not operator.allows("advertise", "/fleet/x")


# -- tokens ------------------------------------------------------------------------------------------------------
def test_tokens():
    roles = {"admin", "service"}
    identity = verify_token(issue_token(SECRET, "web", "service", time.time() + 60), SECRET, roles)
    assert identity.subject == "web" and identity.role == "service"
    for token, reason in [
        (issue_token("another-secret-of-at-least-32-bytes", "web", "service", time.time() + 60), "invalid token"),
        (issue_token(SECRET, "web", "service", time.time() - 60), "expired"),
        (issue_token(SECRET, "web", "pilot", time.time() + 60), "role 'pilot'"),
        (jwt.encode({"sub": "web", "exp": int(time.time()) + 60}, SECRET, algorithm="HS256"), "invalid token"),
        (jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, SECRET, algorithm="HS384"),
         "invalid token"),
        (jwt.encode({"sub": "x", "role": "admin", "exp": int(time.time()) + 60}, None, algorithm="none"),
         "invalid token"),
        ("not.a.jwt", "invalid token"),
        ("", "must carry"),
        (None, "must carry"),
    ]:
        with pytest.raises(AuthError, match=reason):
            verify_token(token, SECRET, roles)


# -- config ------------------------------------------------------------------------------------------------------
def test_config_defaults_are_safe(monkeypatch):
    monkeypatch.delenv(SECRET_ENV, raising=False)
    config = read_config(lambda name, default: default)
    assert config.address == "127.0.0.1" and config.port == 9090 and config.auth_required
    assert config.locked  # auth required and no secret: every client refused
    assert config.auth_timeout == 15.0 and config.service_timeout == 5.0


def test_config_secret_sources(monkeypatch, tmp_path):
    monkeypatch.setenv(SECRET_ENV, "from-env")
    assert read_config(lambda name, default: default).auth_secret == "from-env"
    path = tmp_path / "secret"
    path.write_text("from-file\n")
    params = {"auth_secret_file": str(path)}
    assert read_config(lambda name, default: params.get(name, default)).auth_secret == "from-file"
    params = {"auth_secret": "from-param", "auth_secret_file": str(path)}
    config = read_config(lambda name, default: params.get(name, default))
    assert config.auth_secret == "from-param" and not config.locked
    assert "from-param" not in repr(config)


@pytest.mark.parametrize("params", [
    {"port": 70000}, {"auth_secret_file": "/nonexistent/secret"}, {"service_timeout": 0},
    {"send_buffer": "lots"}, {"auth_required": False, "roles": {}}, {"fragment_size": 20, "max_message_size": 10},
    {"roles": ["admin"]},
])
def test_config_errors(params):
    with pytest.raises(ConfigError):
        read_config(lambda name, default: params.get(name, default))


# -- outbox ------------------------------------------------------------------------------------------------------
class Wire:
    def __init__(self) -> None:
        self.frames: list[bytes] = []

    def write(self, data: bytes, binary: bool) -> None:
        self.frames.append(data)


def test_outbox_writes_through_and_queues_in_order_while_paused():
    wire, drops = Wire(), []
    box = Outbox(wire.write, 1000, drops.append)
    box.push(b"a")
    box.pause()
    box.push(b"b")
    box.push(b"c")
    assert wire.frames == [b"a"] and len(box) == 2 and box.queued_bytes == 2
    box.resume()
    assert wire.frames == [b"a", b"b", b"c"] and box.queued_bytes == 0 and not drops


def test_outbox_keeps_only_the_newest_per_limited_key():
    wire, drops = Wire(), []
    box = Outbox(wire.write, 1000, drops.append)
    box.pause()
    for i in range(5):
        box.push(f"t{i}".encode(), key="topic", limit=2)
        box.push(f"o{i}".encode())
    box.resume()
    assert wire.frames == [b"o0", b"o1", b"o2", b"t3", b"o3", b"t4", b"o4"]
    assert box.dropped == 3 and sum(drops) == 3


def test_outbox_drops_oldest_past_its_byte_budget():
    wire, drops = Wire(), []
    box = Outbox(wire.write, 10, drops.append)
    box.pause()
    for i in range(8):
        box.push(b"%03d" % i, key="k", limit=100)
    assert box.queued_bytes <= 10 and box.dropped == 5
    box.resume()
    assert wire.frames == [b"005", b"006", b"007"]


def test_outbox_stops_flushing_when_a_write_pauses_it():
    box: Outbox

    def write(data: bytes, binary: bool) -> None:
        written.append(data)
        box.pause()

    written: list[bytes] = []
    box = Outbox(write, 100, lambda n: None)
    box.pause()
    box.push(b"1")
    box.push(b"2")
    box.resume()
    assert written == [b"1"] and len(box) == 1
    box.resume()
    assert written == [b"1", b"2"]


# -- wire format -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("payload", "text"), [
    (b"{not json", "not valid JSON"), (b"[1,2]", "expected a JSON object"), (b'"x"', "expected a JSON object"),
    (b'{"id": 1}', "'op'"), (b'{"op": 5}', "'op'"), (b"", "not valid JSON"), (b"\xff\xfe", "not valid JSON"),
])
def test_decode_refuses_garbage(payload, text):
    with pytest.raises(protocol.ProtocolError, match=text):
        protocol.decode(payload)


def test_every_op_has_a_schema_that_checks_its_fields():
    schemas = protocol.SCHEMAS
    assert set(schemas) >= {"advertise", "unadvertise", "publish", "subscribe", "unsubscribe", "call_service",
                            "advertise_service", "unadvertise_service", "service_response", "set_level",
                            "fragment", "auth"}
    args = schemas["subscribe"].validate({"topic": "chatter"})
    assert args == {"topic": "/chatter", "type": None, "throttle_rate": 0, "queue_length": 0, "fragment_size": 0,
                    "compression": "none"}
    assert schemas["advertise"].validate({"topic": "/a", "type": "std_msgs/String"})["queue_size"] == 100
    assert schemas["subscribe"].validate({"topic": "/a", "throttle_rate": 100.0})["throttle_rate"] == 100
    for op, message, text in [
        ("publish", {"msg": {}}, "missing field 'topic'"),
        ("publish", {"topic": "/a"}, "missing field 'msg'"),
        ("publish", {"topic": "/a", "msg": [1]}, "'msg': expected an object"),
        ("publish", {"topic": 5, "msg": {}}, "'topic': expected a string"),
        ("publish", {"topic": "/bad name", "msg": {}}, "not a legal ROS name"),
        ("publish", {"topic": "", "msg": {}}, "empty name"),
        ("subscribe", {"topic": "/a", "throttle_rate": -1}, "non-negative integer"),
        ("subscribe", {"topic": "/a", "queue_length": "3"}, "non-negative integer"),
        ("subscribe", {"topic": "/a", "compression": "zip"}, "expected one of"),
        ("call_service", {"service": "/s", "args": "x"}, "object or a list"),
        ("call_service", {"service": "/s", "timeout": -1}, "positive number"),
        ("call_service", {"service": "/s", "compression": "cbor"}, "expected one of"),
        ("advertise", {"topic": "/a", "latch": "yes", "type": "std_msgs/String"}, "true or false"),
        ("advertise_service", {"service": "/s"}, "missing field 'type'"),
        ("service_response", {"service": "/s"}, "missing field 'id'"),
        ("service_response", {"id": [1]}, "string or a number"),
        ("set_level", {"level": "loud"}, "expected one of"),
        ("fragment", {"id": "f", "data": "x", "num": 0}, "missing field 'total'"),
        ("auth", {}, "missing field 'mac'"),
    ]:
        with pytest.raises(protocol.ProtocolError, match=text):
            schemas[op].validate(message)


def test_names_resolve_to_global():
    assert protocol.resolve_name("a/b") == "/a/b" and protocol.resolve_name("/a") == "/a"
    for bad in ("/a b", "~private", "/a/", "//a"):
        with pytest.raises(protocol.ProtocolError):
            protocol.resolve_name(bad)


# -- encodings ---------------------------------------------------------------------------------------------------
def decode_png(data: bytes) -> bytes:
    """What roslibjs does with a `png` op: the RGB pixels of the image, as text."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])[0]
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        if kind == b"IHDR":
            width, _height, depth, color = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and color == 2
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * 3 + 1
    return b"".join(raw[i + 1:i + stride] for i in range(0, len(raw), stride))


def test_png_carries_ascii_json():
    text = orjson.dumps({"op": "publish", "topic": "/t", "msg": {"data": "héllo ✈ 𝄞"}})
    message = orjson.loads(encoding.png_message(text))
    assert message["op"] == "png"
    pixels = decode_png(base64.b64decode(message["data"]))
    assert max(pixels) < 128  # byte-per-character readers rebuild it
    assert orjson.loads(pixels) == orjson.loads(text)


def test_fragments_reassemble():
    text = orjson.dumps({"op": "publish", "topic": "/t", "msg": {"data": "x" * 1000 + "é"}})
    pieces = [orjson.loads(p) for p in encoding.fragments(text, 100)]
    assert len(pieces) == len(pieces[0]["data"] and pieces) and all(p["op"] == "fragment" for p in pieces)
    assert [p["num"] for p in pieces] == list(range(pieces[0]["total"]))
    assert len({p["id"] for p in pieces}) == 1
    assert "".join(p["data"] for p in pieces).encode() == text


def test_cbor_uses_byte_strings_and_typed_arrays():
    from skypost_bridge.convert import message_class

    image = message_class("sensor_msgs/Image")(data=b"\x01\x02", height=2)
    frame = encoding.Frame("/img", image, stamp=(3, 4))
    data, binary = frame.encoded("cbor")
    assert binary
    decoded = cbor2.loads(data)
    assert decoded["op"] == "publish" and decoded["msg"]["data"] == b"\x01\x02" and decoded["msg"]["height"] == 2
    info = message_class("sensor_msgs/CameraInfo")(D=[1.0, 2.0])
    decoded = cbor2.loads(encoding.Frame("/ci", info).encoded("cbor")[0])
    tag = decoded["msg"]["D"]
    assert tag.tag == 86 and struct.unpack("<2d", tag.value) == (1.0, 2.0)
    raw = cbor2.loads(frame.encoded("cbor-raw")[0])
    assert raw["msg"]["secs"] == 3 and raw["msg"]["bytes"] == encoding.serialize(image)
    assert frame.encoded("cbor")[0] is data  # encoded once, shared by every subscriber


def test_frame_json_is_the_publish_op():
    from skypost_bridge.convert import message_class

    frame = encoding.Frame("/chatter", message_class("std_msgs/String")(data="hi"))
    assert orjson.loads(frame.json) == {"op": "publish", "topic": "/chatter", "msg": {"data": "hi"}}
    assert frame.encoded("none") == (frame.json, False)


# -- rosapi ------------------------------------------------------------------------------------------------------
class FakeGraph:
    def __init__(self) -> None:
        self.params = {"/skypost/world_file": "/w.yaml", "/secret/key": "k", "/skypost/n": 3}

    def topic_types(self):
        return [("/fleet/summary", "skypost/FleetSummary"), ("/drone_1/state", "skypost/DroneState"),
                ("/internal", "std_msgs/String")]

    def system_state(self):
        return ([["/fleet/summary", ["/fleet_manager"]], ["/internal", ["/hidden"]]],
                [["/drone_1/state", ["/fleet_manager"]]],
                [["/fleet/get_delivery", ["/fleet_manager"]], ["/hidden/reset", ["/hidden"]]])

    def service_type(self, service):
        return {"/fleet/get_delivery": "skypost/GetDelivery"}[service]

    def service_uri(self, service):
        return "rosrpc://10.0.0.5:4567"

    def get_param(self, name):
        return self.params[name]

    def set_param(self, name, value):
        self.params[name] = value

    def has_param(self, name):
        return name in self.params

    def delete_param(self, name):
        del self.params[name]

    def param_names(self):
        return list(self.params)

    def search_param(self, name):
        return "/skypost/" + name if "/skypost/" + name in self.params else ""

    def now(self):
        return 12, 34


def test_rosapi_answers_filtered_by_role():
    api = RosApi(FakeGraph())
    operator = shipped_access().role("operator")
    topics = api.call("/rosapi/topics", None, operator)
    assert topics == {"topics": ["/drone_1/state", "/fleet/summary"],
                      "types": ["skypost/DroneState", "skypost/FleetSummary"]}
    assert api.call("/rosapi/topic_type", {"topic": "/internal"}, operator) == {"type": ""}
    assert api.call("/rosapi/topic_type", ["fleet/summary"], operator) == {"type": "skypost/FleetSummary"}
    services = api.call("/rosapi/services", {}, operator)["services"]
    assert "/fleet/get_delivery" in services and "/hidden/reset" not in services and "/rosapi/topics" in services
    assert api.call("/rosapi/service_type", {"service": "/fleet/get_delivery"}, operator)["type"] == \
        "skypost/GetDelivery"
    assert api.call("/rosapi/service_type", {"service": "/rosapi/get_param"}, operator)["type"] == "rosapi/GetParam"
    assert api.call("/rosapi/service_host", {"service": "/fleet/get_delivery"}, operator) == {"host": "10.0.0.5"}
    assert api.call("/rosapi/publishers", {"topic": "/internal"}, operator) == {"publishers": []}
    assert api.call("/rosapi/publishers", {"topic": "/fleet/summary"}, operator) == {"publishers": ["/fleet_manager"]}
    assert api.call("/rosapi/get_time", None, operator) == {"time": {"secs": 12, "nsecs": 34}}
    assert "/hidden" in api.call("/rosapi/nodes", None, operator)["nodes"]
    details = api.call("/rosapi/node_details", {"node": "/fleet_manager"}, operator)
    assert details == {"subscribing": ["/drone_1/state"], "publishing": ["/fleet/summary"],
                       "services": ["/fleet/get_delivery"]}


def test_rosapi_params_respect_the_allow_lists():
    graph = FakeGraph()
    api = RosApi(graph)
    operator, admin = shipped_access().role("operator"), shipped_access().role("admin")
    assert api.call("/rosapi/get_param", {"name": "/skypost/n"}, operator) == {"value": "3"}
    assert api.call("/rosapi/get_param", {"name": "/skypost/none", "default": "5"}, operator) == {"value": "5"}
    assert api.call("/rosapi/get_param", {"name": "/skypost/none"}, operator) == {"value": "null"}
    assert api.call("/rosapi/get_param_names", None, operator) == {"names": ["/skypost/n", "/skypost/world_file"]}
    with pytest.raises(protocol.AccessDeniedError, match="may not read param /secret/key"):
        api.call("/rosapi/get_param", {"name": "/secret/key"}, operator)
    with pytest.raises(protocol.AccessDeniedError, match="may not write"):
        api.call("/rosapi/set_param", {"name": "/skypost/n", "value": "4"}, operator)
    assert api.call("/rosapi/set_param", {"name": "/skypost/n", "value": '{"a": [1]}'}, admin) == {}
    assert graph.params["/skypost/n"] == {"a": [1]}
    assert api.call("/rosapi/has_param", {"name": "/skypost/n"}, admin) == {"exists": True}
    api.call("/rosapi/delete_param", {"name": "/skypost/n"}, admin)
    assert api.call("/rosapi/has_param", {"name": "/skypost/n"}, admin) == {"exists": False}
    assert api.call("/rosapi/search_param", {"name": "world_file"}, operator) == {"global_name": "/skypost/world_file"}


class NamespaceGraph(FakeGraph):
    """Params as the master keeps them: a namespace reads as a dict of what is under it."""

    def get_param(self, name):
        if name in self.params:
            return self.params[name]
        tree = {}
        prefix = name.rstrip("/") + "/"
        for key, value in self.params.items():
            if key.startswith(prefix):
                *parents, leaf = key[len(prefix):].split("/")
                node = tree
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = value
        return tree

    def has_param(self, name):
        return name in self.params or any(key.startswith(name.rstrip("/") + "/") for key in self.params)


def test_rosapi_never_reveals_the_bridge_secret():
    graph = NamespaceGraph()
    graph.params.update({"/bridge/auth_secret": "s3cret", "/bridge/port": 0})
    api = RosApi(graph, hidden=["/bridge/auth_secret"])
    admin = shipped_access().role("admin")
    for service, args in (("get_param", {"name": "/bridge/auth_secret"}), ("has_param", {"name": "bridge/auth_secret"}),
                          ("set_param", {"name": "/bridge/auth_secret", "value": '"mine"'}),
                          ("delete_param", {"name": "/bridge/auth_secret"}), ("delete_param", {"name": "/bridge"}),
                          ("set_param", {"name": "/bridge", "value": "{}"})):
        with pytest.raises(protocol.AccessDeniedError, match="bridge's secret"):
            api.call(f"/rosapi/{service}", args, admin)
    assert json.loads(api.call("/rosapi/get_param", {"name": "/bridge"}, admin)["value"]) == {"port": 0}
    whole = json.loads(api.call("/rosapi/get_param", {"name": "/"}, admin)["value"])
    assert whole["bridge"] == {"port": 0} and "s3cret" not in json.dumps(whole)
    assert "/bridge/auth_secret" not in api.call("/rosapi/get_param_names", None, admin)["names"]
    graph.search_param = lambda name: "/bridge/auth_secret"
    assert api.call("/rosapi/search_param", {"name": "auth_secret"}, admin) == {"global_name": ""}
    assert graph.params["/bridge/auth_secret"] == "s3cret"


def test_rosapi_refuses_bad_requests():
    api = RosApi(FakeGraph())
    admin = shipped_access().role("admin")
    with pytest.raises(protocol.NotFoundError):
        api.call("/rosapi/format_disk", None, admin)
    with pytest.raises(protocol.ProtocolError, match="unknown field"):
        api.call("/rosapi/topic_type", {"topik": "/a"}, admin)
    with pytest.raises(protocol.ProtocolError, match="required"):
        api.call("/rosapi/topic_type", {}, admin)
    with pytest.raises(protocol.NotFoundError):
        api.call("/rosapi/message_details", {"type": "nope/Nope"}, admin)


def test_typedefs_like_rosapi():
    from skypost_bridge.convert import message_class

    defs = typedefs(message_class("sensor_msgs/CameraInfo"))
    assert [d["type"] for d in defs] == ["sensor_msgs/CameraInfo", "std_msgs/Header", "sensor_msgs/RegionOfInterest"]
    info = defs[0]
    k = info["fieldnames"].index("K")
    assert info["fieldtypes"][k] == "float64" and info["fieldarraylen"][k] == 9
    d = info["fieldnames"].index("D")
    assert info["fieldarraylen"][d] == 0 and info["fieldarraylen"][info["fieldnames"].index("height")] == -1
    battery = typedefs(message_class("sensor_msgs/BatteryState"))[0]
    assert "POWER_SUPPLY_STATUS_FULL" in battery["constnames"]


# -- rospy threads -> the loop -----------------------------------------------------------------------------------
def test_a_backlog_from_ros_is_handed_to_the_loop_a_batch_per_turn():
    import asyncio

    from skypost_bridge.ros_backend import LoopPoster

    loop = asyncio.new_event_loop()
    try:
        poster = LoopPoster(loop, max_messages=1000, batch=300)
        seen: list[int] = []
        for i in range(1200):  # 200 more than it keeps: the oldest go
            poster.post_message(seen.append, i)
        calls: list[str] = []
        poster.post(calls.append, "call")
        per_turn = []
        for _ in range(5):
            loop.call_soon(loop.stop)  # one turn of the loop: sockets would be served between batches
            loop.run_forever()
            per_turn.append(len(seen))
        assert calls == ["call"] and poster.dropped == 200
        assert per_turn == [300, 600, 900, 1000, 1000]
        assert seen == list(range(200, 1200))
    finally:
        loop.close()
