from __future__ import annotations

import math

import numpy as np
import pytest

from skypost_drone.battery import BatteryReading
from skypost_drone.cargo import PigpioServo, TopicCargo
from skypost_drone.config import DroneConfig
from skypost_drone.marker import find_marker
from skypost_sim.camera import CameraModel, render

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("percentage, cells", [(-0.01, []), (float("nan"), [3.9]), (1.7, [4.0])])
def test_unknown_battery_is_never_full(percentage, cells):
    reading = BatteryReading.from_mavros(percentage, 15.0, cells)
    assert not reading.known
    assert reading.preflight_problem(0.4) == "battery state unknown"


def test_empty_cell_list_means_unknown_cell_voltage():
    reading = BatteryReading.from_mavros(0.8, 15.6, [])
    assert reading.known and math.isnan(reading.cell_voltage)
    assert reading.preflight_problem(0.4) is None


def test_preflight_checks_cells_and_charge():
    assert "outside" in BatteryReading.from_mavros(0.9, 18.0, [4.5] * 4).preflight_problem(0.4)
    assert "below" in BatteryReading.from_mavros(0.3, 15.0, [3.8] * 4).preflight_problem(0.4)


def test_marker_offset_from_a_rendered_image():
    camera = CameraModel()
    # the drone is 0.5 m behind (−x) the marker, facing +x, 2 m up: the marker is 0.5 m ahead
    image = render(camera, np.array([9.5, 0.0, 2.0]), 0.0, {11: (10.0, 0.0, 0.0)})
    sighting = find_marker(image, 11, camera.matrix(), altitude=2.0)
    assert sighting is not None
    forward, left = sighting.offset
    assert forward == pytest.approx(0.5, abs=0.08) and left == pytest.approx(0.0, abs=0.08)
    assert find_marker(image, 12, camera.matrix(), 2.0) is None


def test_config_validates_and_reads_params():
    params = {"speed": "4.5", "failsafe_low_battery": "land"}
    config = DroneConfig.from_params(lambda name, default: params.get(name, default))
    assert config.speed == 4.5 and config.failsafe_policy().low_battery.name == "LAND"
    with pytest.raises(ValueError, match="cargo_driver"):
        DroneConfig(cargo_driver="rope").validate()
    with pytest.raises(ValueError, match="critical_battery"):
        DroneConfig(low_battery=0.1, critical_battery=0.2).validate()
    with pytest.raises(ValueError, match="failsafe"):
        DroneConfig(failsafe_link_lost="pray").validate()


def test_topic_cargo_publishes_release_and_hold():
    sent = []
    cargo = TopicCargo(sent.append)
    cargo.release()
    cargo.close()
    assert sent == [True, False]


def test_servo_pulse_widths_are_checked_before_touching_hardware():
    with pytest.raises(ValueError, match="1000-2000"):
        PigpioServo(18, hold_us=500)


def test_config_refuses_nonsense_before_the_node_starts():
    with pytest.raises(ValueError, match="approach_frame"):
        DroneConfig(approach_frame="gps").validate()
    with pytest.raises(ValueError, match="must be positive: stuck_timeout, service_timeout"):
        DroneConfig(stuck_timeout=0.0, service_timeout=-1.0).validate()
    with pytest.raises(ValueError, match="approach_attempts"):
        DroneConfig(approach_attempts=0).validate()
    DroneConfig(approach_frame="map", marker_size=0.0).validate()


def test_every_param_is_a_launch_arg_with_the_same_default():
    import re
    from dataclasses import fields
    from pathlib import Path

    launch = (Path(__file__).resolve().parents[2] / "launch" / "drone.launch").read_text()
    args = dict(re.findall(r'<arg name="(\w+)" default="([^"]*)"/>', launch))
    params = set(re.findall(r'<param name="(\w+)"', launch))
    for f in fields(DroneConfig):
        assert f.name in params, f"~{f.name} is not set by drone.launch"
        if f.name in ("drone_id", "clover_ns", "cargo_driver"):
            continue   # derived from id / sim
        assert f.name in args, f"~{f.name} has no arg"
        assert type(f.default)(args[f.name]) == f.default, f"{f.name}: {args[f.name]} != {f.default}"


def test_pigpio_servo_drives_the_pulses_and_rests_on_close(monkeypatch):
    import sys
    from types import SimpleNamespace

    pulses = []
    pi = SimpleNamespace(connected=True, set_servo_pulsewidth=lambda gpio, us: pulses.append((gpio, us)),
                         stop=lambda: pulses.append("stopped"))
    monkeypatch.setitem(sys.modules, "pigpio", SimpleNamespace(pi=lambda: pi))
    servo = PigpioServo(23, hold_us=1100, release_us=1900)
    servo.release()
    servo.close()
    assert pulses == [(23, 1100), (23, 1900), (23, 0), "stopped"]
    pi.connected = False
    with pytest.raises(RuntimeError, match="pigpiod"):
        PigpioServo(23)
