"""Serial link over a real pseudo-terminal: negotiation through pyserial, garbage, unplug and reconnect."""
import logging

import pytest
from harness import wait_for
from rosserial_device import DeviceTopic, FakeDevice

from skypost_locker.rosserial.codec import TopicId, TopicInfo
from skypost_locker.rosserial.link import SerialLink, serial_opener, stable_port_path
from skypost_locker.rosserial.session import Session, SessionConfig

pytestmark = pytest.mark.unit

STATE = TopicInfo(100, "device/state", "pkg/State", "aaaa", 64)
COMMAND = TopicInfo(101, "device/command", "pkg/Command", "bbbb", 8)
TOPICS = [DeviceTopic(STATE, True), DeviceTopic(COMMAND, False)]


class Endpoints:
    def __init__(self) -> None:
        self.published = []
        self.senders = {}

    def publisher(self, info):
        return lambda payload: self.published.append(payload)

    def subscriber(self, info, send):
        self.senders[info.topic_name] = send

        class Sub:
            def unregister(self):
                pass

        return Sub()

    def log(self, level, text):
        pass

    def now(self):
        return (42, 0)


def make_host(port, sync_timeout=1.0):
    endpoints = Endpoints()
    log = logging.getLogger("test.link")
    session = Session(lambda data: link.write(data), endpoints,
                      SessionConfig(sync_timeout=sync_timeout, request_retry=0.3, name=port), logger=log)
    link = SerialLink(serial_opener(port, 57600), session, name=port, reconnect_delay=0.1, logger=log)
    return link, session, endpoints


def test_negotiation_garbage_and_messages_over_a_pty():
    device = FakeDevice(TOPICS)
    link, session, endpoints = make_host(device.port)
    link.start()
    try:
        wait_for(lambda: session.synced, 10, "negotiation")
        device.write(b"\x00garbage\xff\xfe\x01")   # noise, then a broken header
        device.send(100, b"\x05")
        wait_for(lambda: endpoints.published == [b"\x05"], 10, "state message after garbage")
        assert link.stats.rejected
        device.request_time()
        wait_for(lambda: device.received.time_replies >= 1, 10, "time reply")
        endpoints.senders["device/command"](b"\x01\x00\x02\x01")
        wait_for(lambda: device.frames_on(101), 10, "command reaches the device")
        assert device.frames_on(101)[0].payload == b"\x01\x00\x02\x01"
    finally:
        link.stop()
        device.unplug()


def test_unplug_then_same_path_comes_back(tmp_path):
    by_id = tmp_path / "usb-Arduino_Nano-if00"
    device = FakeDevice(TOPICS, link=by_id)
    link, session, endpoints = make_host(str(by_id))
    link.start()
    try:
        wait_for(lambda: session.synced, 10, "first negotiation")
        device.unplug()
        wait_for(lambda: not session.synced, 10, "sync lost after unplug")
        device = FakeDevice(TOPICS, link=by_id)  # another pty behind the same stable name
        wait_for(lambda: session.synced, 15, "renegotiated after replug")
        assert link.stats.connects >= 2
        device.send(100, b"\x09")
        wait_for(lambda: b"\x09" in endpoints.published, 10, "messages flow again")
    finally:
        link.stop()
        device.unplug()


def test_silent_device_loses_sync_then_is_asked_again():
    device = FakeDevice(TOPICS)
    link, session, _ = make_host(device.port, sync_timeout=0.5)
    link.start()
    try:
        wait_for(lambda: session.synced, 10, "negotiation")
        device.answer_requests = False
        requests = device.received.topic_requests
        wait_for(lambda: not session.synced, 10, "lost sync")
        wait_for(lambda: device.received.topic_requests >= requests + 2, 10, "topic requests repeated")
        device.answer_requests = True
        wait_for(lambda: session.synced, 10, "back in sync")
    finally:
        link.stop(close=False)
        session.shutdown()
        link.close()
    wait_for(lambda: device.received.tx_stops == 1, 10, "tx stop at shutdown")
    device.unplug()
    assert TopicId.TX_STOP == 11


def test_stable_port_path_prefers_by_id(tmp_path):
    by_id = tmp_path / "by-id"
    by_id.mkdir()
    target = tmp_path / "ttyUSB3"
    target.write_text("")
    (by_id / "usb-FTDI_locker-if00-port0").symlink_to(target)
    assert stable_port_path(str(target), by_id) == str(by_id / "usb-FTDI_locker-if00-port0")
    assert stable_port_path(str(tmp_path / "ttyUSB9"), by_id) == str(tmp_path / "ttyUSB9")
    assert stable_port_path(str(target), tmp_path / "missing") == str(target)
