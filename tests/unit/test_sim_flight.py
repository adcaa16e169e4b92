"""The kinematic flight model: straight lines at the requested speed, limits, landing, wind."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_sim.flight import Control, FleetDynamics, FlightLimits

pytestmark = pytest.mark.unit
DT = 0.02
LIMITS = FlightLimits()


def fleet(*starts, limits=LIMITS) -> FleetDynamics:
    d = FleetDynamics(np.array(starts or [(0.0, 0.0, 0.0)], dtype=float), limits)
    d.armed[:] = True
    return d


def fly(d: FleetDynamics, seconds: float, now: float = 0.0, record=None) -> float:
    for _ in range(round(seconds / DT)):
        now += DT
        before = d.velocity.copy()
        d.step(DT, now)
        if record is not None:
            record.append((now, d.position.copy(), d.velocity.copy(), before))
    return now


def distance_to_line(p, a, b) -> float:
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / np.dot(ab, ab), 0, 1)
    return float(np.linalg.norm(p - (a + t * ab)))


def test_navigate_flies_a_straight_line_at_the_requested_speed():
    d = fleet((0.0, 0.0, 3.0))
    a, b = np.array([0.0, 0.0, 3.0]), np.array([20.0, 10.0, 3.0])
    d.navigate(0, a, b, 0.0, 2.0, 0.0)
    trace = []
    fly(d, 20.0, record=trace)
    assert max(distance_to_line(p[0], a, b) for _, p, _, _ in trace) < 0.02
    arrived = next(t for t, p, _, _ in trace if np.linalg.norm(p[0] - b) < 0.3)
    assert arrived == pytest.approx(np.linalg.norm(b - a) / 2.0, abs=1.5)
    cruise = [np.linalg.norm(v[0]) for t, _, v, _ in trace if 3.0 < t < 9.0]
    assert np.mean(cruise) == pytest.approx(2.0, abs=0.05)


def test_a_climbing_leg_stays_straight_under_the_climb_limit():
    d = fleet((0.0, 0.0, 0.0))
    a, b = np.zeros(3), np.array([2.0, 0.0, 10.0])
    d.navigate(0, a, b, 0.0, 5.0, 0.0)
    trace = []
    fly(d, 15.0, record=trace)
    assert max(abs(v[0][2]) for _, _, v, _ in trace) <= LIMITS.max_climb + 1e-9
    assert max(distance_to_line(p[0], a, b) for _, p, _, _ in trace) < 0.05
    assert np.linalg.norm(d.position[0] - b) < 0.05


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.floats(-40, 40), st.floats(-40, 40), st.floats(0, 15)), min_size=1, max_size=3),
       st.floats(0.3, 12.0))
def test_speed_climb_and_acceleration_limits_always_hold(targets, speed):
    d = fleet((0.0, 0.0, 0.0), (5.0, 5.0, 2.0))
    now = 0.0
    for target in targets:
        for i in range(2):
            d.navigate(i, d.setpoint(now)[i], np.array(target), 0.0, speed, now)
        trace = []
        now = fly(d, 3.0, now, record=trace)
        for _, p, v, before in trace:
            assert np.all(np.hypot(v[:, 0], v[:, 1]) <= LIMITS.max_speed + 1e-9)
            assert np.all(np.abs(v[:, 2]) <= LIMITS.max_climb + 1e-9)
            airborne = p[:, 2] > 0.0   # the ground may stop a descent harder than the motors could
            assert np.all(np.linalg.norm(v - before, axis=1)[airborne] <= LIMITS.max_accel * DT + 1e-9)
            assert np.all(p[:, 2] >= 0.0)


def test_arrives_without_overshooting_much():
    d = fleet((0.0, 0.0, 3.0))
    d.navigate(0, d.position[0].copy(), np.array([30.0, 0.0, 3.0]), 0.0, 5.0, 0.0)
    trace = []
    fly(d, 15.0, record=trace)
    assert max(p[0][0] for _, p, _, _ in trace) < 30.25
    assert np.linalg.norm(d.position[0] - [30, 0, 3]) < 0.01


def test_landing_descends_and_disarms_on_the_ground():
    d = fleet((3.0, 4.0, 2.0))
    d.land(0)
    trace = []
    fly(d, 5.0, record=trace)
    assert not d.armed[0] and d.position[0][2] == 0.0
    assert min(v[0][2] for _, _, v, _ in trace) >= -LIMITS.land_speed - 1e-9
    assert np.allclose(d.position[0][:2], [3.0, 4.0], atol=0.01)
    assert not d.flying[0] and d.on_ground[0]


def test_disarmed_drones_do_not_move():
    d = fleet((0.0, 0.0, 0.0))
    d.armed[:] = False
    d.navigate(0, np.zeros(3), np.array([5.0, 0, 3]), 0.0, 1.0, 0.0)
    fly(d, 3.0)
    assert np.allclose(d.position[0], 0.0)


def test_velocity_setpoint_and_yaw_rate_limit():
    d = fleet((0.0, 0.0, 2.0))
    d.set_velocity(0, np.array([1.0, -0.5, 0.0]), math.pi)
    fly(d, 1.0)
    assert d.yaw[0] == pytest.approx(1.0, abs=0.03), "yaw turns at max_yaw_rate (1 rad/s)"
    fly(d, 5.0)
    assert np.allclose(d.velocity[0], [1.0, -0.5, 0.0], atol=1e-6)
    assert abs(d.yaw[0]) == pytest.approx(math.pi, abs=1e-6)


def test_steady_wind_pushes_at_first_then_is_absorbed():
    d = fleet((0.0, 0.0, 3.0))
    d.hold(0)
    d.wind[0] = (3.0, 0.0, 0.0)
    trace = []
    fly(d, 20.0, record=trace)
    worst = max(abs(p[0][0]) for _, p, _, _ in trace)
    assert 0.2 < worst < 3.0, "a steady wind pushes the drone off at first"
    assert abs(d.position[0][0]) < 0.05, "and the controller leans into it after a while"
    d.wind[0] = (0.0, 0.0, 0.0)    # the wind drops: the drone overshoots back until it unlearns it
    fly(d, 1.0)
    assert d.position[0][0] < -0.2


def test_position_setpoint_jumps_to_the_target():
    d = fleet((0.0, 0.0, 2.0))
    d.set_position(0, np.array([4.0, 0.0, 2.0]), 0.0)
    assert d.control[0] == Control.POSITION
    assert np.allclose(d.setpoint(0.0)[0], [4.0, 0.0, 2.0])
    fly(d, 6.0)
    assert np.linalg.norm(d.position[0] - [4.0, 0.0, 2.0]) < 0.01


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="max_speed"):
        FleetDynamics(np.zeros((1, 3)), FlightLimits(max_speed=0.0))
