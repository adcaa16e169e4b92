"""rosserial host session without ROS: negotiation, md5 refusal, time sync, logs, lost sync, tx stop."""
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_locker.rosserial.codec import (
    TOPIC_REQUEST,
    TX_STOP,
    Frame,
    FrameDecoder,
    LogRecord,
    TopicId,
    TopicInfo,
    decode_time,
)
from skypost_locker.rosserial.session import Session, SessionConfig, TopicRefusedError

pytestmark = pytest.mark.unit

STATE = TopicInfo(100, "device/state", "pkg/State", "aaaa", 64)
COMMAND = TopicInfo(101, "device/command", "pkg/Command", "bbbb", 8)


class FakeSubscription:
    def __init__(self) -> None:
        self.unregistered = False

    def unregister(self) -> None:
        self.unregistered = True


class FakeEndpoints:
    def __init__(self, known=None) -> None:
        self.known = known if known is not None else {"pkg/State": "aaaa", "pkg/Command": "bbbb"}
        self.published: list[tuple[str, bytes]] = []
        self.senders = {}
        self.subscriptions = {}
        self.logs: list[tuple[int, str]] = []
        self.time = (1234, 5678)

    def _check(self, info):
        if info.message_type not in self.known:
            raise TopicRefusedError("unknown type")
        if self.known[info.message_type] != info.md5sum:
            raise TopicRefusedError("md5sum mismatch")

    def publisher(self, info):
        self._check(info)
        return lambda payload: self.published.append((info.topic_name, payload))

    def subscriber(self, info, send):
        self._check(info)
        self.senders[info.topic_name] = send
        self.subscriptions[info.topic_name] = FakeSubscription()
        return self.subscriptions[info.topic_name]

    def log(self, level, text):
        self.logs.append((level, text))

    def now(self):
        return self.time


class Wire:
    def __init__(self) -> None:
        self.sent = bytearray()
        self.up = True

    def send(self, data: bytes) -> bool:
        if self.up:
            self.sent += data
        return self.up

    def frames(self):
        frames = [f for f in FrameDecoder().feed(bytes(self.sent)) if isinstance(f, Frame)]
        self.sent.clear()
        return frames


@pytest.fixture
def setup():
    wire, endpoints, changes = Wire(), FakeEndpoints(), []
    session = Session(wire.send, endpoints, SessionConfig(sync_timeout=5.0, request_retry=2.0, name="dev"),
                      logger=logging.getLogger("test"), on_sync_change=changes.append)
    return session, wire, endpoints, changes


def negotiate(session, now=0.0):
    session.frame(Frame(TopicId.PUBLISHER, STATE.serialize()), now)
    session.frame(Frame(TopicId.SUBSCRIBER, COMMAND.serialize()), now)


def test_connect_requests_topics_with_empty_frame_on_topic_0(setup):
    session, wire, _, _ = setup
    session.connected(0.0)
    assert bytes(wire.sent) == TOPIC_REQUEST


def test_negotiation_creates_publishers_and_subscribers(setup):
    session, wire, endpoints, changes = setup
    session.connected(0.0)
    negotiate(session)
    assert session.synced and changes == [True]
    assert set(session.topics) == {100, 101}
    session.frame(Frame(100, b"\x01\x02"), 0.1)
    assert endpoints.published == [("device/state", b"\x01\x02")]
    wire.sent.clear()
    endpoints.senders["device/command"](b"\x07\x00\x03\x01")
    assert wire.frames() == [Frame(101, b"\x07\x00\x03\x01")]


def test_md5_mismatch_is_refused_and_logged_once(setup, caplog):
    session, _wire, endpoints, _ = setup
    endpoints.known["pkg/State"] = "cccc"
    session.connected(0.0)
    with caplog.at_level(logging.ERROR):
        for now in (0.0, 3.0):  # the device renegotiates: no second error line
            negotiate(session, now)
            session.frame(Frame(100, b"\x01"), now)
    assert 100 not in session.topics and 101 in session.topics
    refusals = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refusals) == 1 and "md5sum mismatch" in refusals[0].getMessage()
    assert "device/state" in refusals[0].getMessage()
    assert endpoints.published == []


def test_time_request_answered_with_host_time(setup):
    session, wire, _endpoints, _ = setup
    session.connected(0.0)
    negotiate(session)
    wire.sent.clear()
    session.frame(Frame(TopicId.TIME, bytes(8)), 1.0)
    (answer,) = wire.frames()
    assert answer.topic == TopicId.TIME
    assert decode_time(answer.payload) == (1234, 5678)
    assert session.stats.time_requests == 1


def test_log_topic_goes_to_endpoint_log(setup):
    session, _, endpoints, _ = setup
    session.connected(0.0)
    session.frame(Frame(TopicId.LOG, LogRecord(2, "cell 3: fault").serialize()), 0.0)
    session.frame(Frame(TopicId.LOG, LogRecord(99, "odd level").serialize()), 0.0)
    session.frame(Frame(TopicId.LOG, b"\x01\xff"), 0.0)  # malformed: ignored with a warning
    assert endpoints.logs == [(2, "cell 3: fault"), (1, "odd level")]


def test_lost_sync_after_timeout_requests_topics_again(setup):
    session, wire, _, changes = setup
    session.connected(0.0)
    negotiate(session, 0.0)
    wire.sent.clear()
    session.tick(4.9)
    assert session.synced and not wire.sent
    session.tick(5.1)
    assert not session.synced and changes == [True, False]
    assert bytes(wire.sent) == TOPIC_REQUEST
    assert session.stats.sync_losses == 1
    wire.sent.clear()
    session.tick(6.0)           # within request_retry: no new request
    assert not wire.sent
    session.tick(7.2)           # device still silent: ask again
    assert bytes(wire.sent) == TOPIC_REQUEST
    negotiate(session, 7.5)     # device back
    assert session.synced and changes == [True, False, True]


def test_traffic_keeps_sync(setup):
    session, _, _, _ = setup
    session.connected(0.0)
    negotiate(session, 0.0)
    for t in range(1, 30):
        session.frame(Frame(100, b"\x00"), float(t))
        session.tick(float(t) + 0.5)
    assert session.synced


def test_messages_on_unknown_topic_trigger_a_topic_request(setup):
    session, wire, _, _ = setup
    session.connected(0.0)
    wire.sent.clear()
    session.frame(Frame(100, b"\x00"), 0.5)   # host restarted while the device kept publishing
    assert not wire.sent                      # a request went out 0.5 s ago
    session.frame(Frame(100, b"\x00"), 2.5)
    assert bytes(wire.sent) == TOPIC_REQUEST


def test_outgoing_too_big_or_out_of_sync_is_dropped(setup, caplog):
    session, wire, _, _ = setup
    session.connected(0.0)
    assert session.send_message(101, b"\x00") is False  # not negotiated yet
    negotiate(session)
    wire.sent.clear()
    with caplog.at_level(logging.ERROR):
        assert session.send_message(101, bytes(9)) is False
    assert "larger than the device's buffer" in caplog.text
    assert not wire.sent
    assert session.send_message(101, bytes(8)) is True


def test_disconnect_and_shutdown(setup):
    session, wire, endpoints, changes = setup
    session.connected(0.0)
    negotiate(session)
    wire.sent.clear()
    session.shutdown()
    assert bytes(wire.sent) == TX_STOP
    assert endpoints.subscriptions["device/command"].unregistered
    assert changes == [True, False]
    session.disconnected()
    assert changes == [True, False]


def test_renegotiation_with_same_topics_keeps_endpoints(setup):
    session, _, endpoints, _ = setup
    session.connected(0.0)
    negotiate(session)
    first = endpoints.subscriptions["device/command"]
    negotiate(session, 1.0)
    assert endpoints.subscriptions["device/command"] is first and not first.unregistered


def test_reserved_ids_and_services_are_refused(setup, caplog):
    session, _, _, _ = setup
    session.connected(0.0)
    with caplog.at_level(logging.ERROR):
        session.frame(Frame(TopicId.PUBLISHER, TopicInfo(5, "x", "pkg/State", "aaaa").serialize()), 0.0)
        session.frame(Frame(TopicId.SERVICE_SERVER, b""), 0.0)
        session.frame(Frame(TopicId.PUBLISHER, b"\x00"), 0.0)  # malformed TopicInfo
    assert session.topics == {}
    assert "reserved id 5" in caplog.text and "does not support" in caplog.text and "malformed" in caplog.text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.binary(max_size=80), st.floats(0, 100)), max_size=30))
def test_any_frames_in_any_order_never_break_the_session(frames):
    wire, endpoints = Wire(), FakeEndpoints()
    session = Session(wire.send, endpoints, SessionConfig(sync_timeout=5.0, request_retry=2.0),
                      logger=logging.getLogger("test.fuzz"))
    session.connected(0.0)
    for topic, payload, now in sorted(frames, key=lambda f: f[2]):
        session.frame(Frame(topic, payload), now)
        session.tick(now)
    session.shutdown()
