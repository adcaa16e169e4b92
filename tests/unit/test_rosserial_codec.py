"""rosserial codec: frames, checksums, resync after garbage, split frames, TopicInfo/Log/Time serialization."""
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_locker.rosserial.codec import (
    BAD_CHECKSUM,
    BAD_LENGTH_CHECKSUM,
    GARBAGE,
    TIMEOUT,
    TOO_LONG,
    TOPIC_REQUEST,
    TX_STOP,
    CodecError,
    Frame,
    FrameDecoder,
    LogRecord,
    Rejected,
    TopicInfo,
    decode_time,
    encode_frame,
    encode_time,
)

pytestmark = pytest.mark.unit

frames_st = st.builds(Frame, st.integers(0, 0xFFFF), st.binary(max_size=300))


def frames_of(items):
    return [i for i in items if isinstance(i, Frame)]


def test_reference_frames_match_upstream_bytes():
    # The topic request and tx stop as upstream rosserial_python writes them.
    assert bytes.fromhex("fffe0000ff0000ff") == TOPIC_REQUEST
    assert bytes.fromhex("fffe0000ff0b00f4") == TX_STOP


def test_checksums_of_a_frame():
    data = encode_frame(125, b"\x01\x02\x03")
    assert data[:2] == b"\xff\xfe"
    assert data[2:4] == b"\x03\x00"
    assert (data[2] + data[3] + data[4]) % 256 == 255
    assert (sum(data[5:]) % 256) == 255
    assert len(data) == 8 + 3


def test_encode_rejects_out_of_range():
    with pytest.raises(CodecError):
        encode_frame(0x10000)
    with pytest.raises(CodecError):
        encode_frame(1, bytes(0x10000))


@settings(max_examples=300, deadline=None)
@given(st.lists(frames_st, max_size=8))
def test_round_trip_any_frames(frames):
    decoder = FrameDecoder()
    stream = b"".join(encode_frame(f.topic, f.payload) for f in frames)
    assert decoder.feed(stream) == frames
    assert decoder.buffered == 0


@settings(max_examples=300, deadline=None)
@given(st.lists(frames_st, min_size=1, max_size=5), st.data())
def test_round_trip_split_anywhere(frames, data):
    stream = b"".join(encode_frame(f.topic, f.payload) for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    got = []
    previous = 0
    for cut in [*cuts, len(stream)]:
        got += frames_of(decoder.feed(stream[previous:cut]))
        previous = cut
    assert got == frames


# Noise without a frame start in it. (Noise holding "FF FE" plus a length and two matching checksums is a frame
# by the protocol's own rules and may swallow what follows; the fuzz test below covers arbitrary noise.)
noise_st = st.binary(max_size=400).filter(lambda b: b"\xff\xfe" not in b)


@settings(max_examples=300, deadline=None)
@given(noise_st, frames_st, noise_st, frames_st)
def test_frames_survive_garbage_around_them(before, first, between, second):
    stream = before + encode_frame(first.topic, first.payload) + between + encode_frame(second.topic, second.payload)
    assert frames_of(FrameDecoder().feed(stream)) == [first, second]


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2000))
def test_fuzzed_garbage_never_raises_and_never_grows_unbounded(noise):
    decoder = FrameDecoder(max_payload=256)
    items = decoder.feed(noise)
    for item in items:
        assert isinstance(item, (Frame, Rejected))
    assert decoder.buffered <= 256 + 8


def test_garbage_is_reported_and_frame_found():
    items = FrameDecoder().feed(b"hello\x00\x01" + encode_frame(100, b"x"))
    assert items[0] == Rejected(GARBAGE, 7)
    assert items[1] == Frame(100, b"x")


def test_bad_message_checksum_is_dropped_and_next_frame_kept():
    bad = bytearray(encode_frame(100, b"abc"))
    bad[-1] ^= 0x55
    good = encode_frame(101, b"ok")
    items = FrameDecoder().feed(bytes(bad) + good)
    assert frames_of(items) == [Frame(101, b"ok")]
    assert any(isinstance(i, Rejected) and i.reason == BAD_CHECKSUM for i in items)


def test_bad_length_checksum_is_dropped():
    bad = bytearray(encode_frame(100, b"abc"))
    bad[4] ^= 0x01
    items = FrameDecoder().feed(bytes(bad) + encode_frame(7, b""))
    assert frames_of(items) == [Frame(7, b"")]
    assert any(isinstance(i, Rejected) and i.reason == BAD_LENGTH_CHECKSUM for i in items)


def test_frame_hidden_inside_a_false_header_is_found():
    # A false header announcing 5 bytes, followed at once by a real frame: the false frame fails its checksum and
    # the search resumes inside it, so the real frame is not lost.
    false_header = b"\xff\xfe\x05\x00\xfa"
    real = encode_frame(100, b"\x01\x02\x03\x04\x05\x06")
    assert frames_of(FrameDecoder().feed(false_header + real)) == [Frame(100, b"\x01\x02\x03\x04\x05\x06")]


def test_too_long_is_rejected():
    decoder = FrameDecoder(max_payload=16)
    items = decoder.feed(encode_frame(100, bytes(17)) + encode_frame(100, bytes(16)))
    assert frames_of(items) == [Frame(100, bytes(16))]
    assert any(isinstance(i, Rejected) and i.reason == TOO_LONG for i in items)


def test_stalled_body_times_out_then_later_frames_decode():
    decoder = FrameDecoder(body_timeout=0.02)
    partial = encode_frame(100, bytes(10))[:9]
    assert decoder.feed(partial, now=0.0) == []
    assert decoder.feed(b"", now=0.01) == []          # still within the timeout
    items = decoder.feed(b"", now=0.05)               # given up
    assert any(isinstance(i, Rejected) and i.reason == TIMEOUT for i in items)
    assert frames_of(decoder.feed(encode_frame(7, b"z"), now=0.06)) == [Frame(7, b"z")]


def test_byte_by_byte():
    stream = encode_frame(100, b"abc") + encode_frame(10, bytes(8))
    decoder = FrameDecoder()
    got = []
    for byte in stream:
        got += frames_of(decoder.feed(bytes((byte,))))
    assert got == [Frame(100, b"abc"), Frame(10, bytes(8))]


def test_topic_info_layout_is_rosserial_msgs():
    info = TopicInfo(100, "device/state", "skypost/LockerHardwareState", "0d7664bb65d5df957215a03d3b9f57ca", 64)
    data = info.serialize()
    assert data[:2] == b"\x64\x00"
    assert data[2:6] == struct.pack("<I", len("device/state"))
    assert data[-4:] == struct.pack("<i", 64)
    assert TopicInfo.deserialize(data) == info


@settings(deadline=None)
@given(st.integers(0, 0xFFFF), st.text(max_size=40), st.text(max_size=40), st.text(max_size=32),
       st.integers(-(2**31), 2**31 - 1))
def test_topic_info_round_trip(topic_id, name, message_type, md5, size):
    info = TopicInfo(topic_id, name, message_type, md5, size)
    assert TopicInfo.deserialize(info.serialize()) == info


@settings(deadline=None)
@given(st.binary(max_size=60))
def test_topic_info_garbage_raises_codec_error_only(data):
    try:
        TopicInfo.deserialize(data)
    except CodecError:
        pass


def test_log_record_and_time():
    record = LogRecord(2, "cell 3: door open while locked")
    assert LogRecord.deserialize(record.serialize()) == record
    assert encode_time(5, 7) == struct.pack("<II", 5, 7)
    assert decode_time(encode_time(1_700_000_000, 999_999_999)) == (1_700_000_000, 999_999_999)
    with pytest.raises(CodecError):
        decode_time(b"\x00" * 7)


def test_truncated_log_is_a_codec_error():
    with pytest.raises(CodecError):
        LogRecord.deserialize(b"\x01\x05\x00\x00\x00ab")
