from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_drone.mission import (
    FLYING,
    TABLE,
    TERMINAL,
    Action,
    Event,
    Failsafe,
    FailsafePolicy,
    InvalidTransitionError,
    Mission,
    Outcome,
    State,
)

pytestmark = pytest.mark.unit
HAPPY_PATH = [Event.TASK_ASSIGNED, Event.PREFLIGHT_OK, Event.TAKEOFF_DONE, Event.ARRIVED, Event.MARKER_ACQUIRED,
              Event.ARRIVED, Event.CELL_OPENED, Event.DROP_CONFIRMED, Event.ARRIVED_BASE, Event.LANDED]


def run(events, policy=None) -> Mission:
    mission = Mission(policy or FailsafePolicy())
    for event in events:
        mission.handle(event)
    return mission


def at(state: State) -> Mission:
    """A mission driven along the happy path until it is in `state`."""
    mission = Mission()
    for event in HAPPY_PATH:
        if mission.state == state:
            return mission
        mission.handle(event)
    assert mission.state == state
    return mission


def test_happy_path_delivers():
    mission = run(HAPPY_PATH)
    assert mission.state == State.COMPLETED
    assert mission.final_outcome() == Outcome.DELIVERED
    assert mission.parcel_released
    assert [t.target for t in mission.history][:3] == [State.PREFLIGHT, State.TAKEOFF, State.NAVIGATING]


@pytest.mark.parametrize("key", sorted(TABLE, key=lambda k: (k[0], k[1].value)),
                         ids=lambda k: f"{k[0].name}-{k[1].value}")
def test_every_table_transition(key):
    source, event = key
    mission = Mission()
    mission.state = source
    transition = mission.handle(event)
    assert mission.state == TABLE[key].target == transition.target


def test_invalid_transition_raises_typed_error():
    mission = Mission()
    with pytest.raises(InvalidTransitionError, match="cell_opened"):
        mission.handle(Event.CELL_OPENED)
    completed = run(HAPPY_PATH)
    with pytest.raises(InvalidTransitionError):
        completed.handle(Event.TASK_ASSIGNED)


@pytest.mark.parametrize("event, outcome", [
    (Event.DROP_UNCONFIRMED, Outcome.DELIVERED_UNCONFIRMED),
    (Event.DROP_TIMEOUT, Outcome.DELIVERED_UNCONFIRMED),
])
def test_unconfirmed_drops_stay_distinguishable(event, outcome):
    mission = at(State.DROPPED)
    mission.handle(event)
    for e in (Event.ARRIVED_BASE, Event.LANDED):
        mission.handle(e)
    assert mission.final_outcome() == outcome


@pytest.mark.parametrize("event", [Event.CELL_TIMEOUT, Event.CELL_FAILED])
def test_cell_not_opened_returns_with_parcel(event):
    mission = at(State.WAITING_DROP)
    assert mission.handle(event).action == Action.FLY_HOME
    assert mission.final_outcome() == Outcome.RETURNED_WITH_PARCEL
    assert not mission.parcel_released


@pytest.mark.parametrize("state", [State.TAKEOFF, State.NAVIGATING, State.APPROACH, State.WAITING_DROP])
def test_cell_failed_before_the_drop_brings_the_parcel_back(state):
    mission = at(state)
    assert mission.handle(Event.CELL_FAILED).action == Action.FLY_HOME
    assert mission.state == State.RETURNING
    assert mission.final_outcome() == Outcome.RETURNED_WITH_PARCEL


def test_late_confirmation_upgrades_a_timed_out_drop():
    mission = at(State.DROPPED)
    mission.handle(Event.DROP_TIMEOUT)
    transition = mission.handle(Event.DROP_CONFIRMED)   # the fleet's signal crossed the drone's timeout
    assert transition.action == Action.NONE and mission.state == State.RETURNING
    mission.handle(Event.ARRIVED_BASE)
    mission.handle(Event.DROP_CONFIRMED)                # a repeat while landing changes nothing
    mission.handle(Event.LANDED)
    assert mission.final_outcome() == Outcome.DELIVERED


@pytest.mark.parametrize("event", [Event.CELL_OPENED, Event.DROP_UNCONFIRMED])
def test_repeated_drop_signals_change_nothing(event):
    mission = at(State.DROPPED)
    if event == Event.DROP_UNCONFIRMED:
        mission.handle(Event.DROP_UNCONFIRMED)
    before = (mission.state, mission.outcome)
    assert mission.handle(event).action == Action.NONE
    assert (mission.state, mission.outcome) == before


def test_drop_signals_without_a_released_parcel_are_invalid():
    mission = at(State.WAITING_DROP)
    mission.handle(Event.CELL_FAILED)
    for event in (Event.DROP_CONFIRMED, Event.CELL_OPENED):
        with pytest.raises(InvalidTransitionError):
            mission.handle(event)


FAILSAFE_EVENTS = {Event.LOW_BATTERY: "low_battery", Event.CRITICAL_BATTERY: "critical_battery",
                   Event.LINK_LOST: "link_lost"}


def expected_after_failsafe(state: State, event: Event, level: Failsafe) -> State:
    """The failsafe table written out by hand, state by state."""
    if state == State.DROPPED and event == Event.LINK_LOST:
        return State.DROPPED            # the cell is open: finish the drop
    if level == Failsafe.CONTINUE:
        return state
    if state == State.PREFLIGHT:
        return State.ABORTED            # still on the ground: do not take off
    if state == State.LANDING:
        return State.LANDING            # already landing at base: never back up
    if level == Failsafe.RETURN:
        return State.RETURNING
    return State.EMERGENCY_LAND


@pytest.mark.parametrize("level", list(Failsafe), ids=lambda f: f.name)
@pytest.mark.parametrize("event", list(FAILSAFE_EVENTS), ids=lambda e: e.value)
@pytest.mark.parametrize("state", [State.PREFLIGHT, *sorted(FLYING)], ids=lambda s: s.name)
def test_every_failsafe_in_every_state(state, event, level):
    mission = at(state)
    mission.policy = FailsafePolicy.from_mapping({FAILSAFE_EVENTS[event]: level.name.lower()})
    mission.handle(event)
    assert mission.state == expected_after_failsafe(state, event, level)
    if mission.state == State.RETURNING and state in (State.TAKEOFF, State.NAVIGATING, State.APPROACH,
                                                      State.WAITING_DROP):
        assert mission.final_outcome() == Outcome.RETURNED_WITH_PARCEL
    if mission.state == State.EMERGENCY_LAND:
        assert mission.final_outcome() == Outcome.EMERGENCY_LANDED


def test_low_battery_in_flight_returns_and_critical_lands_here():
    mission = at(State.NAVIGATING)
    mission.handle(Event.LOW_BATTERY)
    assert mission.state == State.RETURNING and mission.final_outcome() == Outcome.RETURNED_WITH_PARCEL
    mission.handle(Event.LOW_BATTERY)
    assert mission.state == State.RETURNING
    mission.handle(Event.CRITICAL_BATTERY)
    assert mission.state == State.EMERGENCY_LAND and mission.terminal
    assert mission.final_outcome() == Outcome.EMERGENCY_LANDED


def test_failsafe_never_pulls_a_landing_drone_back_up():
    mission = at(State.LANDING)
    for event in (Event.LOW_BATTERY, Event.LINK_LOST, Event.CRITICAL_BATTERY, Event.RETURN_COMMAND):
        mission.handle(event)
        assert mission.state == State.LANDING
    mission.handle(Event.LANDED)
    assert mission.state == State.COMPLETED


def test_failsafe_only_escalates():
    mission = at(State.APPROACH)
    mission.handle(Event.CRITICAL_BATTERY)
    assert mission.state == State.EMERGENCY_LAND
    assert mission.failsafe == Failsafe.LAND


def test_link_lost_finishes_a_drop_in_progress_but_otherwise_returns():
    dropping = at(State.DROPPED)
    dropping.handle(Event.LINK_LOST)
    assert dropping.state == State.DROPPED
    waiting = at(State.WAITING_DROP)
    waiting.handle(Event.LINK_LOST)
    assert waiting.state == State.RETURNING and waiting.final_outcome() == Outcome.RETURNED_WITH_PARCEL
    waiting.handle(Event.LINK_RESTORED)
    assert waiting.state == State.RETURNING


def test_navigation_failure_retries_then_aborts_and_returns():
    mission = at(State.NAVIGATING)
    for _ in range(3):
        assert mission.handle(Event.NAVIGATION_FAILED).action == Action.RETRY_NAVIGATION
    transition = mission.handle(Event.NAVIGATION_FAILED)
    assert transition.action == Action.FLY_HOME and mission.state == State.RETURNING
    assert mission.final_outcome() == Outcome.ABORTED


def test_navigation_failure_on_the_way_home_lands_here():
    mission = run([*HAPPY_PATH[:8]], FailsafePolicy(navigation_retries=0))
    assert mission.state == State.RETURNING
    mission.handle(Event.NAVIGATION_FAILED)
    assert mission.state == State.EMERGENCY_LAND


def test_retries_count_per_leg():
    mission = at(State.NAVIGATING)
    mission.handle(Event.NAVIGATION_FAILED)
    mission.handle(Event.ARRIVED)
    assert mission.navigation_failures == 0


def test_cancel_returns_home_or_aborts_on_the_ground():
    flying = at(State.NAVIGATING)
    flying.handle(Event.CANCEL)
    assert flying.state == State.RETURNING and flying.final_outcome() == Outcome.CANCELLED
    ground = at(State.PREFLIGHT)
    ground.handle(Event.CANCEL)
    assert ground.state == State.ABORTED and ground.final_outcome() == Outcome.CANCELLED


def test_preflight_failure_and_battery_before_takeoff_abort():
    assert run([Event.TASK_ASSIGNED, Event.PREFLIGHT_FAILED]).final_outcome() == Outcome.ABORTED
    assert run([Event.TASK_ASSIGNED, Event.LOW_BATTERY]).state == State.ABORTED


def test_policy_from_mapping_validates():
    policy = FailsafePolicy.from_mapping({"low_battery": "land", "navigation_retries": 1})
    assert policy.low_battery == Failsafe.LAND and policy.navigation_retries == 1
    with pytest.raises(ValueError, match="low_battery"):
        FailsafePolicy.from_mapping({"low_battery": "panic"})
    with pytest.raises(ValueError):
        FailsafePolicy.from_mapping({"navigation_retries": -1})


def test_every_non_terminal_state_can_reach_a_terminal_state():
    for state in State:
        if state in TERMINAL or state == State.IDLE:
            continue
        mission = Mission()
        mission.state = state
        mission.handle(Event.CRITICAL_BATTERY if state in FLYING else Event.CANCEL)
        if not mission.terminal:   # already landing at base
            mission.handle(Event.LANDED)
        assert mission.terminal, state


# The node turns every stall into one of these: the watchdog's way out of any state.
DRIVE_TO_END = [Event.NAVIGATION_FAILED, Event.CELL_TIMEOUT, Event.DROP_TIMEOUT, Event.MARKER_LOST,
                Event.ARRIVED, Event.ARRIVED_BASE, Event.LANDED, Event.PREFLIGHT_FAILED]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Event)), max_size=40), st.sampled_from(list(Failsafe)),
       st.integers(min_value=0, max_value=4))
def test_any_event_sequence_keeps_a_valid_state_and_ends(events, low, retries):
    mission = Mission(FailsafePolicy(low_battery=low, navigation_retries=retries))
    mission.handle(Event.TASK_ASSIGNED)
    levels = [mission.failsafe]
    for event in events:
        try:
            mission.handle(event)
        except InvalidTransitionError:
            pass
        assert mission.state in State
        levels.append(mission.failsafe)
    assert levels == sorted(levels), "failsafes only escalate"
    for _ in range(60):   # timeouts and progress only: the mission must end
        if mission.terminal:
            break
        for event in DRIVE_TO_END:
            try:
                mission.handle(event)
                break
            except InvalidTransitionError:
                continue
    assert mission.terminal
    assert isinstance(mission.final_outcome(), Outcome)


# How far a mission has gone towards the ground: it never moves back down this list.
PHASE = {State.IDLE: 0, State.PREFLIGHT: 0, State.TAKEOFF: 0, State.NAVIGATING: 0, State.APPROACH: 0,
         State.WAITING_DROP: 0, State.DROPPED: 0, State.RETURNING: 1, State.LANDING: 2, State.COMPLETED: 3,
         State.ABORTED: 3, State.EMERGENCY_LAND: 3}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list(Event)), max_size=60),
       st.sampled_from(list(Failsafe)), st.sampled_from(list(Failsafe)), st.sampled_from(list(Failsafe)))
def test_a_returning_or_landing_drone_never_turns_back(events, low, critical, link):
    mission = Mission(FailsafePolicy(low_battery=low, critical_battery=critical, link_lost=link))
    mission.handle(Event.TASK_ASSIGNED)
    phases = [PHASE[mission.state]]
    for event in events:
        try:
            mission.handle(event)
        except InvalidTransitionError:
            continue
        phases.append(PHASE[mission.state])
    assert phases == sorted(phases), [State(s).name for s in phases]
