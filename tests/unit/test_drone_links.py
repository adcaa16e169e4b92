"""The Clover client (deadlines, busy retries), flight legs (arrival, stuck, deadline) and goal checks."""
from __future__ import annotations

import math
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from skypost_common.world import parse_world
from skypost_drone.clover_client import CloverClient, CloverError, is_busy
from skypost_drone.goal import GoalSpec, goal_problem
from skypost_drone.leg import Leg

pytestmark = pytest.mark.unit


def answer(success=True, message=""):
    return SimpleNamespace(success=success, message=message)


class Scripted:
    """A fake service answering from a script; an Exception in the script is raised, "hang" never answers."""

    def __init__(self, *script):
        self.script = list(script)
        self.requests = []
        self.release = threading.Event()

    def __call__(self, **kwargs):
        self.requests.append(kwargs)
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if step == "hang":
            self.release.wait(30)
            return answer()
        if isinstance(step, Exception):
            raise step
        return step


def client(navigate=None, telemetry=None, land=None, timeout=0.5, retries=3):
    services = {"navigate": navigate or Scripted(answer()), "get_telemetry": telemetry or Scripted(answer()),
                "land": land or Scripted(answer())}
    return CloverClient(services, timeout, retries, backoff=0.001)


def test_busy_answers_are_retried_not_fatal():
    navigate = Scripted(answer(False, "Busy"), answer(False, "busy: another request"), answer())
    c = client(navigate)
    c.navigate(1.0, 2.0, 3.0, "map", speed=2.0)
    assert len(navigate.requests) == 3
    assert navigate.requests[-1] == {"x": 1.0, "y": 2.0, "z": 3.0, "yaw": pytest.approx(math.nan, nan_ok=True),
                                     "speed": 2.0, "frame_id": "map", "auto_arm": False}
    assert c.failures == 2 and c.calls == 3


def test_busy_beyond_the_retries_is_a_refusal():
    navigate = Scripted(answer(False, "Busy"))
    with pytest.raises(CloverError, match="refused: Busy"):
        client(navigate, retries=2).navigate(0, 0, 1, "body", speed=1.0)
    assert len(navigate.requests) == 3


def test_a_refusal_is_not_retried():
    navigate = Scripted(answer(False, "Copter is not in OFFBOARD mode"))
    with pytest.raises(CloverError, match="OFFBOARD"):
        client(navigate).navigate(0, 0, 1, "map", speed=1.0)
    assert len(navigate.requests) == 1


def test_lost_calls_are_retried_then_reported():
    land = Scripted(RuntimeError("connection reset"), answer())
    client(land=land).land()
    assert len(land.requests) == 2
    gone = Scripted(RuntimeError("service [/drone_1/land] unavailable"))
    with pytest.raises(CloverError, match="unavailable"):
        client(land=gone, retries=1).land()


def test_a_call_that_never_answers_times_out():
    hanging = Scripted("hang")
    c = client(telemetry=hanging, timeout=0.05, retries=1)
    try:
        with pytest.raises(CloverError, match="no answer within"):
            c.telemetry("navigate_target")
        assert len(hanging.requests) == 2
    finally:
        hanging.release.set()


def test_shutdown_stops_the_retries():
    stop = threading.Event()
    stop.set()
    c = CloverClient({"navigate": Scripted(answer(False, "Busy")), "get_telemetry": Scripted(answer()),
                      "land": Scripted(answer())}, 0.5, 5, stop=stop)
    with pytest.raises(CloverError):
        c.navigate(0, 0, 1, "map", speed=1.0)


def test_client_validates_its_setup():
    with pytest.raises(ValueError, match="missing"):
        CloverClient({"navigate": Scripted(answer())}, 1.0, 1)
    with pytest.raises(ValueError):
        client(timeout=0)
    assert is_busy(answer(False, "Busy")) and not is_busy(answer(True, "busy")) and not is_busy(SimpleNamespace())


# ----- legs -------------------------------------------------------------------------------------------------
def leg(now=100.0):
    return Leg.start(np.array([10.0, 0.0, 3.0]), "map", now, np.array([0.0, 0.0, 3.0]), speed=2.0, margin=5.0)


def test_leg_deadline_is_twice_the_straight_line_time_plus_the_margin():
    flight = leg()
    assert flight.deadline == pytest.approx(100.0 + 10.0 / 2.0 * 2.0 + 5.0)
    assert flight.trouble(114.9, 0.3, stuck_timeout=1e9) is None
    assert "not reached in 15 s" in flight.trouble(115.1, 0.3, stuck_timeout=1e9)


def test_leg_arrives_by_the_measured_distance_only():
    flight = leg()
    assert not flight.reached(0.3), "no measurement yet"
    assert flight.distance_to_go(np.array([4.0, 0.0, 3.0])) == pytest.approx(6.0)
    flight.update(0.25, 101.0)
    assert flight.reached(0.3) and flight.distance_to_go(np.zeros(3)) == 0.25
    flight.update(math.nan, 102.0)
    assert flight.distance == 0.25 and flight.measured == 101.0, "unknown readings are ignored"


def test_leg_counts_as_stuck_without_progress():
    flight = leg()
    flight.update(8.0, 100.5)
    flight.update(7.9, 104.0)   # 0.1 m is no progress
    assert flight.trouble(109.4, 0.3, stuck_timeout=9.0) is None
    assert "stuck: no progress for 10 s, 7.9 m to go" in flight.trouble(110.5, 0.3, stuck_timeout=9.0)
    flight.update(7.0, 110.6)   # progress again
    assert flight.trouble(111.0, 0.3, stuck_timeout=9.0) is None


def test_a_silent_autopilot_makes_a_leg_stuck_and_an_arrived_one_never():
    silent = leg()
    assert "no distance from the autopilot" in silent.trouble(111.0, 0.3, stuck_timeout=10.0)
    hovering = leg()
    hovering.update(0.1, 101.0)
    assert hovering.trouble(112.0, 0.3, stuck_timeout=10.0) is None


def test_leg_retarget_keeps_the_deadline():
    flight = leg()
    flight.update(0.2, 101.0)
    flight.retarget(np.array([10.3, 0.1, 3.0]), 102.0)
    assert not flight.reached(0.3) and flight.deadline == pytest.approx(115.0)
    assert flight.due(102.0, 0.2) and not Leg.start(np.zeros(3), "map", 0, np.zeros(3), 1, 1).reached(0.3)


def test_leg_measurements_are_throttled():
    flight = leg()
    assert flight.due(100.0, 0.2)
    flight.update(5.0, 100.0)
    assert not flight.due(100.1, 0.2) and flight.due(100.2, 0.2)


# ----- goals ------------------------------------------------------------------------------------------------
WORLD = parse_world({
    "bases": [{"id": "base_1", "position": [0, 0, 0], "marker_id": 100}],
    "lockers": [{"id": "locker_1", "position": [24, 8, 0], "marker_id": 11, "cells": ["S"]}],
    "drones": [{"id": "drone_1", "base": "base_1"}],
})


def spec(**changes):
    values = {"delivery_id": "d-1", "locker_id": "locker_1", "marker_id": 11, "target": (24.0, 8.0, 0.0),
              "base_id": "base_1", "base": (0.0, -2.0, 0.0)}
    values.update(changes)
    return GoalSpec(**values)


def test_a_goal_matching_the_world_is_accepted():
    assert goal_problem(spec(), WORLD) is None
    assert goal_problem(spec(base_id=""), WORLD) is None
    assert goal_problem(spec(locker_id="anywhere", marker_id=7), None) is None, "no world: no site checks"


@pytest.mark.parametrize("changes, problem", [
    ({"delivery_id": " "}, "no delivery_id"),
    ({"target": (math.nan, 0.0, 0.0)}, "finite"),
    ({"base": (0.0, math.inf, 0.0)}, "finite"),
    ({"locker_id": "locker_9"}, "not in the world"),
    ({"marker_id": 12}, "not the marker of locker_1"),
    ({"target": (30.0, 8.0, 0.0)}, "6.0 m from locker_1"),
    ({"base_id": "base_7"}, "base 'base_7'"),
])
def test_goal_problems(changes, problem):
    assert problem in goal_problem(spec(**changes), WORLD)


def test_goal_spec_reads_the_action_goal():
    point = lambda x, y, z: SimpleNamespace(x=x, y=y, z=z)  # noqa: E731
    msg = SimpleNamespace(delivery_id="d-2", locker_id="locker_1", marker_id=11, target=point(24, 8, 0),
                          base_id="base_1", base=point(0, -2, 0))
    assert GoalSpec.from_msg(msg) == spec(delivery_id="d-2", target=(24, 8, 0), base=(0, -2, 0))
