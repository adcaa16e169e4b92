"""QR pickup without ROS: the code gate (in view, rate limit), the pickup flow, QR rendering/decoding, config."""
import numpy as np
import pytest

from skypost_locker.config import parse_cells, read_config
from skypost_locker.pickup import CodeGate, PickupFlow, PickupTimeouts, Validation, Verdict
from skypost_locker.qr import QrReader, render_qr

pytestmark = pytest.mark.unit


def test_a_code_in_view_is_sent_once():
    gate = CodeGate(limit=5, window=60.0, forget_after=2.0)
    assert gate.offer("A", 0.0) == Verdict.SEND
    for t in (0.2, 0.4, 1.9, 3.5):   # still in front of the camera (seen every < 2 s)
        assert gate.offer("A", t) == Verdict.IN_VIEW
    assert gate.offer("A", 6.0) == Verdict.SEND  # gone for 2.5 s, shown again


def test_codes_are_rate_limited_per_locker():
    gate = CodeGate(limit=3, window=60.0, forget_after=1.0)
    verdicts = [gate.offer(f"code{i}", float(i * 2)) for i in range(5)]
    assert verdicts == [Verdict.SEND] * 3 + [Verdict.RATE_LIMITED] * 2
    assert gate.offer("late", 61.0) == Verdict.SEND  # the first one left the window


def test_busy_locker_does_not_swallow_the_code():
    gate = CodeGate()
    assert gate.offer("A", 0.0, busy=True) == Verdict.BUSY
    assert gate.offer("A", 0.1, busy=False) == Verdict.SEND


class FakePort:
    def __init__(self, validation, open_ok=True, door_opens=True, door_closes=True, empty=True):
        self.validation = validation
        self.open_ok, self.door_opens, self.door_closes, self.empty = open_ok, door_opens, door_closes, empty
        self.calls, self.screen = [], []

    def validate(self, code):
        self.calls.append(("validate", code))
        if isinstance(self.validation, Exception):
            raise self.validation
        return self.validation

    def open(self, delivery_id, cell_id):
        self.calls.append(("open", delivery_id, cell_id))
        return self.open_ok, "" if self.open_ok else "did not confirm"

    def wait_door(self, cell_id, closed, timeout):
        self.calls.append(("wait_door", cell_id, closed))
        return self.door_closes if closed else self.door_opens

    def close(self, cell_id):
        self.calls.append(("close", cell_id))
        return True, ""

    def finish(self, delivery_id, cell_id):
        self.calls.append(("finish", delivery_id, cell_id))
        return (True, "picked up") if self.empty else (False, "a parcel is still in cell 3")

    def show(self, text):
        self.screen.append(text)


GOOD = Validation(True, "ok", "d1", 3)


def test_pickup_happy_path_in_order():
    port = FakePort(GOOD)
    result = PickupFlow(port).run("QR1")
    assert result.success and (result.delivery_id, result.cell_id) == ("d1", 3)
    assert port.calls == [("validate", "QR1"), ("open", "d1", 3), ("wait_door", 3, False),
                          ("wait_door", 3, True), ("close", 3), ("finish", "d1", 3)]
    assert "Cell 3 is open" in port.screen[-2] and port.screen[-1] == "Thank you!"


def test_refused_code_opens_nothing_and_says_why():
    port = FakePort(Validation(False, "code already used"))
    result = PickupFlow(port).run("QR1")
    assert not result.success and result.message == "code already used"
    assert [c[0] for c in port.calls] == ["validate"]
    assert port.screen[-1] == "Code refused: code already used"


def test_validation_timeout_is_a_refusal():
    port = FakePort(TimeoutError("no answer within 5 s"))
    result = PickupFlow(port).run("QR1")
    assert not result.success and "no answer" in result.message
    assert [c[0] for c in port.calls] == ["validate"]


def test_door_never_opened_relocks():
    port = FakePort(GOOD, door_opens=False)
    result = PickupFlow(port, PickupTimeouts(door_open=30)).run("QR1")
    assert not result.success and "not opened within 30 s" in result.message
    assert ("close", 3) in port.calls and ("finish", "d1", 3) not in port.calls


def test_parcel_left_inside_is_not_a_pickup():
    result = PickupFlow(FakePort(GOOD, empty=False)).run("QR1")
    assert not result.success and "still in cell 3" in result.message


def test_cell_that_does_not_open():
    port = FakePort(GOOD, open_ok=False)
    result = PickupFlow(port).run("QR1")
    assert not result.success and "did not open" in result.message
    assert ("wait_door", 3, False) not in port.calls


def test_qr_round_trip_and_blank_frames():
    reader = QrReader()
    assert reader.decode(render_qr("SKYPOST:d-42:7f3a9c")) == "SKYPOST:d-42:7f3a9c"
    assert reader.decode(np.full((240, 320), 255, np.uint8)) is None
    assert reader.decode(np.zeros((0, 0), np.uint8)) is None
    with pytest.raises(ValueError):
        render_qr("x" * 400, 160, 120)


def test_codes_the_classic_detector_misses_are_still_read():
    # Found in a 100-order scenario: OpenCV's classic detector finds no finder patterns in this frame
    missed = "SKY-s10x5x100-0080-a65ac50b"
    assert QrReader().decode(render_qr(missed)) == missed
    codes = [f"SKY-load-{i:04d}-{i * 7919:08x}" for i in range(300)]
    reader = QrReader()
    assert [c for c in codes if reader.decode(render_qr(c)) != c] == []


def test_config_from_world_and_overrides(tmp_path):
    world = tmp_path / "world.yaml"
    world.write_text("lockers:\n  - id: L1\n    position: [1, 2, 0]\n    marker_id: 11\n    cells: [S, M]\n")
    params = {"locker_id": "L1", "world": str(world), "command_timeout": "2.5", "camera": "false"}
    config = read_config(lambda name, default: params.get(name, default))
    assert config.cells == ("S", "M") and config.marker_id == 11 and config.position == (1.0, 2.0, 0.0)
    assert config.command_timeout == 2.5 and config.camera is False
    params["cells"] = "s,s,l"
    assert read_config(lambda name, default: params.get(name, default)).cells == ("S", "S", "L")
    params["locker_id"] = "nope"
    with pytest.raises(ValueError, match="not in"):
        read_config(lambda name, default: params.get(name, default))
    with pytest.raises(ValueError, match="cells"):
        read_config(lambda name, default: {"locker_id": "x"}.get(name, default))
    with pytest.raises(ValueError, match="command_timeout"):
        read_config(lambda name, default: {"locker_id": "x", "cells": "S", "command_timeout": 0}.get(name, default))
    assert parse_cells(["s", " M "]) == ("S", "M")
