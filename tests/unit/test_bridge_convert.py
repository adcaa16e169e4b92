"""ROS <-> JSON conversion of the bridge against genpy messages: every primitive type, arrays (variable and
fixed), byte arrays as base64, time/duration, nested messages, headers filled, defaults, refusals."""
from __future__ import annotations

import base64
import io
import math

import genpy
import genpy.dynamic
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_bridge import convert
from skypost_bridge.convert import ConversionError, TypeNotFoundError

pytestmark = pytest.mark.unit

ALL_TYPES = """
bool b
int8 i8
uint8 u8
int16 i16
uint16 u16
int32 i32
uint32 u32
int64 i64
uint64 u64
float32 f32
float64 f64
string s
time t
duration d
byte by
char ch
Header header
uint8[] u8s
char[] chs
uint8[4] u8fixed
int32[] i32s
float64[3] f64fixed
string[] strs
time[] times
duration[2] durs
bool[] bools
Inner inner
Inner[] inners
Inner[2] inner_pair
int32 CONSTANT=7
================================================================================
MSG: test_bridge/Inner
float32 x
string label
uint16[] values
================================================================================
MSG: std_msgs/Header
uint32 seq
time stamp
string frame_id
"""
CLASSES = genpy.dynamic.generate_dynamic("test_bridge/AllTypes", ALL_TYPES)
AllTypes = CLASSES["test_bridge/AllTypes"]
Inner = CLASSES["test_bridge/Inner"]
for _cls in (AllTypes, Inner):
    convert.register_message_class(_cls)


def fixed_clock() -> genpy.Time:
    return genpy.Time(1234, 5678)


def serialized(message: object) -> bytes:
    buffer = io.BytesIO()
    message.serialize(buffer)
    return buffer.getvalue()


def full_message() -> object:
    return AllTypes(
        b=True, i8=-128, u8=255, i16=-32768, u16=65535, i32=-(2**31), u32=2**32 - 1, i64=-(2**63), u64=2**64 - 1,
        f32=1.5, f64=-2.25e-300, s="héllo ✈", t=genpy.Time(10, 20), d=genpy.Duration(-3, 5), by=-5, ch=200,
        header=convert.message_class("std_msgs/Header")(seq=3, stamp=genpy.Time(7, 8), frame_id="map"),
        u8s=b"\x00\x01\xff", chs=b"abc", u8fixed=b"\x01\x02\x03\x04", i32s=[1, -2, 3], f64fixed=[0.5, 1.5, 2.5],
        strs=["a", "", "ü"], times=[genpy.Time(1, 2)], durs=[genpy.Duration(3, 4), genpy.Duration(-1, 0)],
        bools=[True, False], inner=Inner(x=0.25, label="in", values=[1, 2]),
        inners=[Inner(x=1.0, label="a", values=[]), Inner(x=2.0, label="b", values=[65535])],
        inner_pair=[Inner(), Inner(label="second")])


def test_every_field_kind_to_json():
    data = convert.to_json(full_message())
    assert data["b"] is True and data["i8"] == -128 and data["u64"] == 2**64 - 1
    assert data["s"] == "héllo ✈"
    assert data["t"] == {"secs": 10, "nsecs": 20}
    assert data["d"] == {"secs": -3, "nsecs": 5}
    assert data["header"] == {"seq": 3, "stamp": {"secs": 7, "nsecs": 8}, "frame_id": "map"}
    assert data["u8s"] == base64.b64encode(b"\x00\x01\xff").decode()
    assert data["chs"] == base64.b64encode(b"abc").decode()
    assert data["u8fixed"] == base64.b64encode(b"\x01\x02\x03\x04").decode()
    assert list(data["i32s"]) == [1, -2, 3] and list(data["f64fixed"]) == [0.5, 1.5, 2.5]
    assert data["times"] == [{"secs": 1, "nsecs": 2}]
    assert data["inner"] == {"x": 0.25, "label": "in", "values": [1, 2]}
    assert [i["label"] for i in data["inners"]] == ["a", "b"] and len(data["inner_pair"]) == 2
    assert "CONSTANT" not in data
    assert orjson.loads(orjson.dumps(data)) == orjson.loads(orjson.dumps(data))  # JSON-ready


def test_round_trip_is_byte_identical():
    original = full_message()
    text = orjson.dumps(convert.to_json(original))
    rebuilt = convert.from_json(AllTypes, orjson.loads(text))
    assert serialized(rebuilt) == serialized(original)


def test_deserialized_messages_convert_too():
    original = full_message()
    received = AllTypes()
    received.deserialize(serialized(original))  # tuples and bytes, as rospy hands them over
    assert orjson.dumps(convert.to_json(received)) == orjson.dumps(convert.to_json(original))


@pytest.mark.parametrize("type_name", [
    "std_msgs/String", "std_msgs/Float64MultiArray", "geometry_msgs/PoseStamped", "sensor_msgs/Image",
    "sensor_msgs/CameraInfo", "sensor_msgs/CompressedImage", "sensor_msgs/BatteryState", "sensor_msgs/NavSatFix",
    "diagnostic_msgs/DiagnosticArray", "skypost/FleetSummary", "skypost/DeliveryStatus", "skypost/LockerState",
])
def test_defaults_round_trip_for_real_types(type_name):
    cls = convert.message_class(type_name)
    message = cls()
    rebuilt = convert.from_json(cls, orjson.loads(orjson.dumps(convert.to_json(message))))
    assert serialized(rebuilt) == serialized(message)


def test_missing_fields_take_ros_defaults():
    message = convert.from_json(AllTypes, {"s": "only this"})
    assert message.s == "only this" and message.i32 == 0 and message.f64 == 0.0 and message.b is False
    assert message.u8s == b"" and message.u8fixed == bytes(4) and list(message.f64fixed) == [0.0] * 3
    assert message.t == genpy.Time() and message.inner.label == "" and len(message.inner_pair) == 2
    assert message.inner_pair[0] is not message.inner_pair[1]
    serialized(message)  # a valid message


def test_fresh_defaults_are_not_shared():
    first = convert.from_json(AllTypes, {})
    second = convert.from_json(AllTypes, {})
    first.i32s.append(5)
    first.inner.values.append(1)
    assert second.i32s == [] and second.inner.values == []


def test_missing_header_and_stamp_are_filled_with_now():
    cls = convert.message_class("geometry_msgs/PoseStamped")
    filled = convert.from_json(cls, {}, fixed_clock)
    assert filled.header.stamp == genpy.Time(1234, 5678) and filled.header.frame_id == ""
    stamp_only = convert.from_json(cls, {"header": {"frame_id": "map"}}, fixed_clock)
    assert stamp_only.header.stamp == genpy.Time(1234, 5678) and stamp_only.header.frame_id == "map"
    given_stamp = convert.from_json(cls, {"header": {"stamp": {"secs": 1, "nsecs": 2}}}, fixed_clock)
    assert given_stamp.header.stamp == genpy.Time(1, 2)
    without_clock = convert.from_json(cls, {})
    assert without_clock.header.stamp == genpy.Time()


def test_time_accepts_seconds_and_ros2_keys():
    message = convert.from_json(AllTypes, {"t": 12.5, "d": {"sec": -1, "nanosec": 3}})
    assert message.t == genpy.Time(12, 500_000_000) and message.d == genpy.Duration(-1, 3)


def test_byte_arrays_accept_base64_or_lists():
    assert convert.from_json(AllTypes, {"u8s": [1, 2, 255]}).u8s == b"\x01\x02\xff"
    assert convert.from_json(AllTypes, {"u8fixed": base64.b64encode(b"abcd").decode()}).u8fixed == b"abcd"


def test_null_float_is_nan_and_nan_goes_out_as_null():
    message = convert.from_json(AllTypes, {"f64": None, "f32": 3})
    assert math.isnan(message.f64) and message.f32 == 3.0
    assert orjson.loads(orjson.dumps(convert.to_json(message)))["f64"] is None


def test_positional_service_args():
    cls = convert.service_class("std_srvs/SetBool")._request_class
    assert convert.args_to_request(cls, [True]).data is True
    assert convert.args_to_request(cls, None).data is False
    assert convert.args_to_request(cls, []).data is False
    with pytest.raises(ConversionError, match="2 positional values"):
        convert.args_to_request(cls, [True, False])


@pytest.mark.parametrize(("data", "expected"), [
    ({"nope": 1}, r"msg: unknown field\(s\) \['nope'\]"),
    ({"inner": {"x": 1, "zzz": 2}}, r"msg.inner: unknown field\(s\) \['zzz'\]"),
    ({"i8": 128}, "msg.i8: 128 is out of range for int8"),
    ({"u8": -1}, "msg.u8: -1 is out of range for uint8"),
    ({"u64": 2**64}, "out of range for uint64"),
    ({"i32": "5"}, r"msg.i32: expected an integer \(int32\)"),
    ({"i32": True}, "expected an integer"),
    ({"i32": 1.5}, "expected an integer"),
    ({"f64": "x"}, "msg.f64: expected a number"),
    ({"f64": False}, "expected a number"),
    ({"b": "true"}, "msg.b: expected true or false"),
    ({"s": 5}, "msg.s: expected a string"),
    ({"t": {"secs": 1.5}}, r"msg.t.secs: expected an integer"),
    ({"t": -1}, "negative time"),
    ({"t": {"secs": 1, "foo": 2}}, "unknown field"),
    ({"t": "now"}, "expected {secs, nsecs}"),
    ({"u8s": "***"}, "msg.u8s: not valid base64"),
    ({"u8s": [256]}, "list of bytes 0..255"),
    ({"u8s": 5}, "expected a base64 string"),
    ({"u8fixed": "AAE="}, "expected exactly 4 bytes"),
    ({"f64fixed": [1, 2]}, "msg.f64fixed: expected exactly 3 elements"),
    ({"i32s": "123"}, "msg.i32s: expected an array"),
    ({"i32s": [1, "2"]}, r"msg.i32s\[1\]: expected an integer"),
    ({"inners": [{"label": 3}]}, r"msg.inners\[0\].label: expected a string"),
    ({"inner": [1]}, "msg.inner: expected an object for test_bridge/Inner"),
    ({"inner_pair": [{}]}, "expected exactly 2 elements"),
])
def test_bad_values_are_refused_with_their_path(data, expected):
    with pytest.raises(ConversionError, match=expected):
        convert.from_json(AllTypes, data)


def test_not_an_object_is_refused():
    with pytest.raises(ConversionError, match="expected an object"):
        convert.from_json(AllTypes, [1, 2])


def test_type_names():
    assert convert.normalize_type("std_msgs/msg/String") == "std_msgs/String"
    assert convert.message_class("std_msgs/msg/String") is convert.message_class("std_msgs/String")
    for bad in ("String", "a/b/c/d", "std_msgs/", "std msgs/String", "../x"):
        with pytest.raises(TypeNotFoundError):
            convert.normalize_type(bad)
    with pytest.raises(TypeNotFoundError):
        convert.message_class("no_such_pkg/Nothing")
    with pytest.raises(TypeNotFoundError):
        convert.message_class("std_msgs/NoSuchType")
    with pytest.raises(TypeNotFoundError):
        convert.service_class("std_srvs/NoSuch")


def test_converters_are_generated_once_per_class():
    cls = convert.message_class("geometry_msgs/PoseStamped")
    assert convert.to_json_converter(cls) is convert.to_json_converter(cls)
    assert convert.from_json_converter(cls) is convert.from_json_converter(cls)


def test_field_types():
    assert convert.parse_field_type("float64[9]") == convert.FieldType("float64", True, 9)
    assert convert.parse_field_type("Header").base == "std_msgs/Header"
    assert convert.parse_field_type("char[]").is_bytes and not convert.parse_field_type("int8[]").is_bytes


INT_STRATEGY = {name: st.integers(low, high) for name, (low, high) in convert.INT_RANGES.items()}


@settings(max_examples=100, deadline=None)
@given(i8=INT_STRATEGY["int8"], u16=INT_STRATEGY["uint16"], i64=INT_STRATEGY["int64"], u64=INT_STRATEGY["uint64"],
       f64=st.floats(allow_nan=False, allow_infinity=False), s=st.text(), u8s=st.binary(max_size=64),
       i32s=st.lists(INT_STRATEGY["int32"], max_size=8), secs=st.integers(0, 2**32 - 1),
       nsecs=st.integers(0, 999_999_999), labels=st.lists(st.text(max_size=5), max_size=4))
def test_property_json_round_trip(i8, u16, i64, u64, f64, s, u8s, i32s, secs, nsecs, labels):
    original = AllTypes(i8=i8, u16=u16, i64=i64, u64=u64, f64=f64, s=s, u8s=u8s, i32s=i32s,
                        t=genpy.Time(secs, nsecs), inners=[Inner(label=label) for label in labels])
    text = orjson.dumps(convert.to_json(original))
    assert serialized(convert.from_json(AllTypes, orjson.loads(text))) == serialized(original)
