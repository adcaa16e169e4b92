"""The precision approach's decisions: search, descent, marker loss, bounded attempts."""
from __future__ import annotations

import pytest

from skypost_drone.approach import MARKER_FRESH_S, Approach, ApproachConfig, Step
from skypost_drone.marker import MarkerSighting

pytestmark = pytest.mark.unit
CONFIG = ApproachConfig(search_timeout=10.0, lost_timeout=2.0, attempts=2, acceptance_radius=0.25)


def seen(error: float = 0.1) -> MarkerSighting:
    return MarkerSighting(11, (160.0, 120.0), (error, 0.0), 1.5, 40.0, True)


def searching() -> Approach:
    approach = Approach(CONFIG)
    approach.search()
    return approach


def test_a_marker_in_view_is_acquired_even_on_the_way_up():
    approach = searching()
    assert approach.step(100.0, leg_reached=False, leg_trouble=None) == Step.WAIT
    approach.saw(seen(), 100.1)
    assert approach.step(100.2, False, None) == Step.ACQUIRED


def test_the_search_clock_starts_at_the_search_point_and_runs_out():
    approach = searching()
    assert approach.step(100.0, False, None) == Step.WAIT
    assert approach.step(105.0, True, None) == Step.WAIT      # arrived: search for 10 s from now
    assert approach.step(114.9, True, "leg past its deadline") == Step.WAIT, "hovering: only the search clock"
    assert approach.step(115.1, True, None) == Step.SEARCH_AGAIN
    assert approach.why == "marker not found (attempt 1/2)"
    approach.search()
    approach.step(120.0, True, None)
    assert approach.step(130.5, True, None) == Step.GIVE_UP
    assert approach.why == "marker not found (attempt 2/2)"


def test_a_stuck_climb_is_a_navigation_failure_not_a_search_attempt():
    approach = searching()
    assert approach.step(100.0, False, "stuck: no progress for 16 s") == Step.NAV_FAILED
    assert approach.attempts_used == 0 and approach.why.startswith("stuck")


def test_arrival_needs_the_setpoint_and_a_fresh_marker_within_the_radius():
    approach = searching()
    approach.saw(seen(0.4), 100.0)
    approach.step(100.0, False, None)
    approach.descend()
    assert approach.step(100.1, True, None) == Step.WAIT, "0.4 m off: not yet"
    approach.saw(seen(0.1), 100.2)
    assert approach.step(100.3, False, None) == Step.WAIT, "setpoint not reached"
    assert approach.step(100.3, True, None) == Step.ARRIVED
    assert approach.step(100.2 + MARKER_FRESH_S + 0.1, True, None) == Step.WAIT, "a stale sighting does not count"


def test_a_marker_lost_during_the_descent_starts_the_next_search():
    approach = searching()
    approach.saw(seen(), 100.0)
    approach.descend()
    assert approach.step(101.9, False, None) == Step.WAIT
    assert approach.step(102.1, False, None) == Step.SEARCH_AGAIN
    assert approach.why == "marker lost during the descent (attempt 1/2)"
    approach.search()
    assert approach.sighting is None and not approach.descending


def test_a_descent_that_never_settles_counts_as_an_attempt():
    approach = searching()
    approach.saw(seen(0.5), 100.0)
    approach.descend()
    approach.saw(seen(0.5), 130.0)
    assert approach.step(130.1, True, "leg not reached in 30 s") == Step.SEARCH_AGAIN
    assert "descent onto the marker: leg not reached in 30 s" in approach.why


def test_one_attempt_means_give_up_at_once():
    approach = Approach(ApproachConfig(10.0, 2.0, 1, 0.25))
    approach.search()
    approach.step(0.0, True, None)
    assert approach.step(10.1, True, None) == Step.GIVE_UP
