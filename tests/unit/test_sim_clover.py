"""simple_offboard semantics of the simulated drones: auto_arm, Busy, land, frames, telemetry."""
import math
import threading

import numpy as np
import pytest
from harness import wait_for

from skypost_sim.clover import CloverApi, RequestTiming
from skypost_sim.simulation import DroneSpec, Pad, Simulation

pytestmark = pytest.mark.unit
NAN = math.nan
MARKERS = {11: (10.0, 0.0, 0.0), 100: (0.0, 0.0, 0.0)}


def site(self_stepping: bool = True) -> tuple[Simulation, CloverApi]:
    sim = Simulation([DroneSpec("drone_1", (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))], MARKERS,
                     [Pad("locker_1", MARKERS[11])], self_stepping=self_stepping)
    return sim, CloverApi(sim, 0)


def airborne(z: float = 2.0) -> tuple[Simulation, CloverApi]:
    sim, api = site()
    assert api.navigate(0, 0, z, NAN, 1.0, "body", auto_arm=True).success
    sim.advance(z + 3.0)
    return sim, api


def advance_until(sim: Simulation, predicate, seconds: float) -> float:
    """Steps the world until predicate() holds; returns the sim seconds it took."""
    start = sim.now
    while not predicate():
        assert sim.now - start < seconds, f"not within {seconds} s of sim time"
        sim.step(0.02)
    return sim.now - start


def distance(telemetry) -> float:
    return math.sqrt(telemetry.x ** 2 + telemetry.y ** 2 + telemetry.z ** 2)


def test_without_auto_arm_a_grounded_drone_refuses():
    _sim, api = site()
    answer = api.navigate(0, 0, 2, NAN, 1.0, "body", auto_arm=False)
    assert not answer.success and answer.message == "Copter is not in OFFBOARD mode, use auto_arm?"


def test_auto_arm_switches_to_offboard_arms_and_takes_off():
    sim, api = site()
    answer = api.navigate(0, 0, 2, NAN, 1.0, "body", auto_arm=True)
    assert answer.success, answer.message
    assert sim.now == pytest.approx(0.7, abs=0.03), "the call waited for the OFFBOARD switch and arming"
    t = api.telemetry()
    assert t.connected and t.armed and t.mode == "OFFBOARD"
    sim.advance(5.0)
    assert api.telemetry().z == pytest.approx(2.0, abs=0.02)


def test_offboard_but_disarmed_needs_auto_arm_too():
    sim, api = airborne()
    assert api.land().success
    sim.advance(5.0)
    sim.set_mode(0, "OFFBOARD")   # e.g. an RC switch; still disarmed on the ground
    answer = api.navigate(0, 0, 2, NAN, 1.0, "body", auto_arm=False)
    assert not answer.success and answer.message == "Copter is not armed, use auto_arm?"


def test_a_second_call_while_one_is_handled_is_busy():
    sim, api = site(self_stepping=False)
    answers = []
    first = threading.Thread(target=lambda: answers.append(api.navigate(0, 0, 2, NAN, 1, "body", True)))
    first.start()
    wait_for(lambda: api.busy, 10, "the first call waiting for the autopilot")
    assert api.navigate(0, 0, 3, NAN, 1, "body", True).message == "Busy"
    assert api.land().message == "Busy"
    assert api.telemetry().connected, "get_telemetry is never busy"
    wait_for(lambda: (sim.step(0.05), not first.is_alive())[1], 10, "the first call done once sim time runs")
    first.join(5)
    assert answers and answers[0].success
    assert not api.busy


def test_sleeping_requests_end_when_the_simulation_stops():
    sim, api = site(self_stepping=False)
    answers = []
    first = threading.Thread(target=lambda: answers.append(api.navigate(0, 0, 2, NAN, 1, "body", True)))
    first.start()
    wait_for(lambda: api.busy, 10, "the call waiting for sim time")
    sim.stop()
    first.join(10)
    assert answers[0].message == "Simulation is shutting down"


def test_speed_zero_means_half_a_metre_per_second_and_negative_is_refused():
    sim, api = airborne()
    assert "speed must be positive" in api.navigate(1, 0, 0, NAN, -1.0, "body").message
    assert api.navigate(2, 0, 0, NAN, 0.0, "body").success
    took = advance_until(sim, lambda: distance(api.telemetry("navigate_target")) < 0.05, 10.0)
    assert took == pytest.approx(2.0 / 0.5, abs=1.0)


def test_non_finite_coordinates_are_refused_like_clover():
    _sim, api = airborne()
    assert api.navigate(NAN, 0, 2, NAN, 1, "map").message == "x argument cannot be NaN or Inf"
    assert api.set_velocity(0, math.inf, 0, NAN, "body").message == "vy argument cannot be NaN or Inf"


def test_navigate_target_telemetry_is_how_arrival_is_seen():
    sim, api = airborne(3.0)
    assert api.navigate(10, 0, 3, NAN, 2.0, "map").message == "Navigating from current setpoint"
    before = api.telemetry("navigate_target")
    assert before.x == pytest.approx(-10.0, abs=0.1)
    sim.advance(8.0)
    assert distance(api.telemetry("navigate_target")) < 0.1
    assert api.telemetry("map").x == pytest.approx(10.0, abs=0.1)


def test_body_frame_is_relative_to_position_and_heading():
    sim, api = airborne()
    assert api.navigate(0, 0, 0, math.pi / 2, 1.0, "body").success
    sim.advance(3.0)
    assert api.navigate(2, 0, 0, NAN, 1.0, "body").success   # "2 m ahead" while facing +y
    sim.advance(5.0)
    t = api.telemetry("map")
    assert (t.x, t.y, t.z) == pytest.approx((0.0, 2.0, 2.0), abs=0.05)
    assert t.yaw == pytest.approx(math.pi / 2, abs=0.01)
    body = api.telemetry("body")
    assert (body.x, body.y, body.z, body.yaw) == pytest.approx((0, 0, 0, 0), abs=1e-9)


def test_navigate_target_frame_offsets_from_the_last_target():
    sim, api = airborne()
    assert api.navigate(1, 1, 2, 0.0, 1.0, "map").success
    assert api.navigate(1, 0, 0, NAN, 1.0, "navigate_target").success
    assert sim.dynamics.target[0] == pytest.approx([2.0, 1.0, 2.0])


def test_navigate_target_does_not_exist_before_the_first_target():
    _sim, api = site()
    answer = api.navigate(0, 0, 1, NAN, 1, "navigate_target", auto_arm=True)
    assert not answer.success and "navigate_target" in answer.message
    assert math.isnan(api.telemetry("navigate_target").x)


def test_yaw_infinity_faces_the_direction_of_travel():
    sim, api = airborne()
    assert api.navigate(-5, -5, 2, math.inf, 1.0, "map").success
    sim.advance(5.0)
    assert api.telemetry().yaw == pytest.approx(math.atan2(-5, -5), abs=0.02)


def test_aruco_frame_needs_the_marker_seen_in_the_last_half_second():
    sim, api = airborne(3.0)
    answer = api.navigate(0, 0, 2, NAN, 1, "aruco_11")
    assert not answer.success and "not seen" in answer.message
    assert api.navigate(10, 0, 3, NAN, 3, "map").success
    sim.advance(8.0)
    sim.update_sightings()
    assert api.navigate(0.5, 0, 1.5, NAN, 0.5, "aruco_11").success
    assert sim.dynamics.target[0] == pytest.approx([10.5, 0.0, 1.5])
    sim.advance(0.6)
    assert "not seen" in api.navigate(0, 0, 1.5, NAN, 0.5, "aruco_11").message
    assert "no marker 99" in api.navigate(0, 0, 1.5, NAN, 0.5, "aruco_99").message
    sim.update_sightings()
    t, in_map = api.telemetry("aruco_11"), api.telemetry("map")
    assert (t.x, t.y, t.z) == pytest.approx((in_map.x - 10.0, in_map.y, in_map.z))
    sim.advance(1.0)
    assert math.isnan(api.telemetry("aruco_11").x), "an old sighting gives no pose in the marker frame"


def test_hidden_marker_is_never_seen():
    sim, api = airborne(3.0)
    api.navigate(10, 0, 3, NAN, 3, "map")
    sim.advance(8.0)
    sim.hidden_markers.add(11)
    sim.update_sightings()
    assert "not seen" in api.navigate(0, 0, 1.5, NAN, 0.5, "aruco_11").message


def test_unknown_frames_are_refused_and_give_nan_telemetry():
    _sim, api = airborne()
    assert "unknown frame" in api.navigate(0, 0, 2, NAN, 1, "mars").message
    t = api.telemetry("mars")
    assert t.connected and math.isnan(t.x) and math.isnan(t.vx) and math.isnan(t.yaw)


def test_telemetry_fields_without_a_source_are_nan():
    _sim, api = airborne()
    t = api.telemetry()
    assert t.frame_id == "map"
    assert math.isnan(t.lat) and math.isnan(t.lon) and math.isnan(t.alt), "no GPS on the simulated site"
    assert 3.0 < t.cell_voltage < 4.3 and t.voltage == pytest.approx(4 * t.cell_voltage)


def test_land_is_refused_unless_offboard_then_lands_and_disarms():
    sim, api = site()
    assert api.land().message == "Copter is not in OFFBOARD mode"
    sim, api = airborne()
    answer = api.land()
    assert answer.success
    assert api.telemetry().mode == "AUTO.LAND"
    sim.advance(5.0)
    t = api.telemetry()
    assert not t.armed and t.z == 0.0
    assert api.land().message == "Copter is not in OFFBOARD mode"


def test_set_position_and_set_velocity():
    sim, api = airborne()
    assert api.set_position(3, 0, 2, NAN, "map").success
    sim.advance(5.0)
    assert api.telemetry().x == pytest.approx(3.0, abs=0.05)
    assert api.set_velocity(0, 1.0, 0, NAN, "body").success   # body +y = left of a drone facing +x
    sim.advance(3.0)
    t = api.telemetry()
    assert t.vy == pytest.approx(1.0, abs=1e-3) and t.y > 1.0


def test_navigate_global_has_no_gps_here():
    _sim, api = airborne()
    assert api.navigate_global(55.7, 37.6, 2, NAN, 1, "map").message == "No global position"


def test_telemetry_stop_disconnects_and_refuses_commands():
    sim, api = airborne()
    sim.telemetry_stop_until[0] = sim.now + 1.0
    t = api.telemetry()
    assert not t.connected and not t.armed and t.mode == "" and math.isnan(t.z) and math.isnan(t.voltage)
    assert api.navigate(0, 0, 1, NAN, 1, "body").message == "State timeout, check mavros settings"
    assert api.land().message == "State timeout, check mavros settings"
    sim.advance(1.1)
    assert api.telemetry().connected


def test_injected_refusals_count_down():
    sim, api = airborne()
    sim.navigate_refusals[0] = 2
    assert "injected" in api.navigate(0, 0, 1, NAN, 1, "body").message
    assert "injected" in api.navigate(0, 0, 1, NAN, 1, "body").message
    assert api.navigate(0, 0, 1, NAN, 1, "body").success


def test_many_drones_fly_independently():
    specs = [DroneSpec(f"d{i}", (float(i), 0.0, 0.0), (0.0, 0.0, 0.0)) for i in range(5)]
    sim = Simulation(specs, MARKERS, self_stepping=True)
    apis = [CloverApi(sim, i, RequestTiming(0.0, 0.0)) for i in range(5)]
    for i, api in enumerate(apis):
        assert api.navigate(0, 0, 1.0 + i, NAN, 2.0, "body", auto_arm=True).success
    sim.advance(8.0)
    assert np.allclose(sim.dynamics.position[:, 2], [1, 2, 3, 4, 5], atol=0.02)
    assert np.allclose(sim.dynamics.position[:, 0], range(5), atol=1e-6)
