"""The delivery mission as an explicit transition table (no rospy).

`Mission.handle(event)` moves the machine and returns the transition taken; the node performs the transition's
`action` (fly, release, land). Failsafe events go through a configurable `FailsafePolicy` and may only escalate:
continue → return to base → land here. A landing drone is never pulled back up.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from enum import Enum, IntEnum


class TextEnum(str, Enum):
    """A str-valued enum that prints as its value, as the standard string enum of Python 3.11 does; the drone's
    own computer may run 3.8."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class State(IntEnum):
    """Mirrors the skypost/DroneState constants."""

    IDLE = 0
    PREFLIGHT = 1
    TAKEOFF = 2
    NAVIGATING = 3
    APPROACH = 4
    WAITING_DROP = 5
    DROPPED = 6
    RETURNING = 7
    LANDING = 8
    COMPLETED = 9
    ABORTED = 10
    EMERGENCY_LAND = 11


class Event(TextEnum):
    TASK_ASSIGNED = "task_assigned"
    PREFLIGHT_OK = "preflight_ok"
    PREFLIGHT_FAILED = "preflight_failed"
    TAKEOFF_DONE = "takeoff_done"
    ARRIVED = "arrived"
    MARKER_ACQUIRED = "marker_acquired"
    MARKER_LOST = "marker_lost"           # lost for longer than allowed, search attempts used up
    CELL_OPENED = "cell_opened"
    CELL_FAILED = "cell_failed"           # the fleet found no cell to open
    CELL_TIMEOUT = "cell_timeout"         # no cell opened within the timeout
    DROP_CONFIRMED = "drop_confirmed"
    DROP_UNCONFIRMED = "drop_unconfirmed"
    DROP_TIMEOUT = "drop_timeout"
    RETURN_COMMAND = "return_command"
    ARRIVED_BASE = "arrived_base"
    LANDED = "landed"
    NAVIGATION_FAILED = "navigation_failed"
    LOW_BATTERY = "low_battery"
    CRITICAL_BATTERY = "critical_battery"
    LINK_LOST = "link_lost"
    LINK_RESTORED = "link_restored"
    CANCEL = "cancel"


class Outcome(IntEnum):
    """Mirrors the skypost/Deliver result constants."""

    DELIVERED = 0
    DELIVERED_UNCONFIRMED = 1
    RETURNED_WITH_PARCEL = 2
    ABORTED = 3
    CANCELLED = 4
    EMERGENCY_LANDED = 5


class Action(TextEnum):
    NONE = "none"
    PREFLIGHT = "preflight"
    TAKE_OFF = "take_off"
    FLY_TO_LOCKER = "fly_to_locker"
    SEARCH_MARKER = "search_marker"
    DESCEND_ON_MARKER = "descend_on_marker"
    HOVER = "hover"
    RELEASE = "release"
    FLY_HOME = "fly_home"
    LAND = "land"
    LAND_HERE = "land_here"
    RETRY_NAVIGATION = "retry_navigation"
    FINISH = "finish"


class Failsafe(IntEnum):
    """Ordered: a failsafe may only move to a higher level."""

    CONTINUE = 0
    RETURN = 1
    LAND = 2


class InvalidTransitionError(Exception):
    """The event makes no sense in the current state."""

    def __init__(self, state: State, event: Event) -> None:
        super().__init__(f"event {event.value} is not valid in state {state.name}")
        self.state = state
        self.event = event


TERMINAL = frozenset({State.COMPLETED, State.ABORTED, State.EMERGENCY_LAND})
FLYING = frozenset({State.TAKEOFF, State.NAVIGATING, State.APPROACH, State.WAITING_DROP, State.DROPPED,
                    State.RETURNING, State.LANDING})
# States in which the parcel is still on board
CARRYING = frozenset({State.PREFLIGHT, State.TAKEOFF, State.NAVIGATING, State.APPROACH, State.WAITING_DROP})


@dataclass(frozen=True)
class Transition:
    source: State
    event: Event
    target: State
    action: Action
    outcome: Outcome | None = None   # set when the transition decides how the mission will end


def _t(source: State, event: Event, target: State, action: Action, outcome: Outcome | None = None) -> Transition:
    return Transition(source, event, target, action, outcome)


S, E, A, OC = State, Event, Action, Outcome
TABLE: dict[tuple[State, Event], Transition] = {
    (t.source, t.event): t
    for t in [
        _t(S.IDLE, E.TASK_ASSIGNED, S.PREFLIGHT, A.PREFLIGHT),
        _t(S.PREFLIGHT, E.PREFLIGHT_OK, S.TAKEOFF, A.TAKE_OFF),
        _t(S.PREFLIGHT, E.PREFLIGHT_FAILED, S.ABORTED, A.FINISH, OC.ABORTED),
        _t(S.PREFLIGHT, E.CANCEL, S.ABORTED, A.FINISH, OC.CANCELLED),
        _t(S.TAKEOFF, E.TAKEOFF_DONE, S.NAVIGATING, A.FLY_TO_LOCKER),
        # the fleet may give up on the cell before the drone is over the pad: no point in going on
        _t(S.TAKEOFF, E.CELL_FAILED, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.NAVIGATING, E.CELL_FAILED, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.APPROACH, E.CELL_FAILED, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.NAVIGATING, E.ARRIVED, S.APPROACH, A.SEARCH_MARKER),
        _t(S.APPROACH, E.MARKER_ACQUIRED, S.APPROACH, A.DESCEND_ON_MARKER),
        _t(S.APPROACH, E.ARRIVED, S.WAITING_DROP, A.HOVER),
        _t(S.APPROACH, E.MARKER_LOST, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.WAITING_DROP, E.CELL_OPENED, S.DROPPED, A.RELEASE),
        _t(S.WAITING_DROP, E.CELL_FAILED, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.WAITING_DROP, E.CELL_TIMEOUT, S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
        _t(S.DROPPED, E.DROP_CONFIRMED, S.RETURNING, A.FLY_HOME, OC.DELIVERED),
        _t(S.DROPPED, E.DROP_UNCONFIRMED, S.RETURNING, A.FLY_HOME, OC.DELIVERED_UNCONFIRMED),
        _t(S.DROPPED, E.DROP_TIMEOUT, S.RETURNING, A.FLY_HOME, OC.DELIVERED_UNCONFIRMED),
        _t(S.RETURNING, E.ARRIVED_BASE, S.LANDING, A.LAND),
        _t(S.LANDING, E.LANDED, S.COMPLETED, A.FINISH),
    ]
}
# Where a navigation failure is retried, and what "give up" means there
NAV_GIVE_UP: dict[State, tuple[State, Action, Outcome | None]] = {
    S.TAKEOFF: (S.ABORTED, A.LAND_HERE, OC.ABORTED),
    S.NAVIGATING: (S.RETURNING, A.FLY_HOME, OC.ABORTED),
    S.APPROACH: (S.RETURNING, A.FLY_HOME, OC.RETURNED_WITH_PARCEL),
    S.RETURNING: (S.EMERGENCY_LAND, A.LAND_HERE, None),
    S.LANDING: (S.EMERGENCY_LAND, A.LAND_HERE, None),
}
# Drop signals that can arrive after the drone moved on: the fleet's signal crossed the drone's own timeout, or
# the fleet repeats a call whose answer it lost. They never move the drone; a late confirmation upgrades the result.
LATE_DROP_SIGNALS = frozenset({Event.CELL_OPENED, Event.DROP_CONFIRMED, Event.DROP_UNCONFIRMED})
AFTER_DROP = frozenset({State.DROPPED, State.RETURNING, State.LANDING})


@dataclass(frozen=True)
class FailsafePolicy:
    """What each condition asks for (like PX4's failsafe table). Values: continue, return, land."""

    low_battery: Failsafe = Failsafe.RETURN
    critical_battery: Failsafe = Failsafe.LAND
    link_lost: Failsafe = Failsafe.RETURN          # the drop is still finished when the cell is already open
    navigation_retries: int = 3

    @classmethod
    def from_mapping(cls, data: dict) -> FailsafePolicy:
        def level(name: str, default: Failsafe) -> Failsafe:
            value = str(data.get(name, default.name)).upper()
            if value not in Failsafe.__members__:
                raise ValueError(f"failsafe {name}: '{value.lower()}' is not one of continue, return, land")
            return Failsafe[value]

        retries = int(data.get("navigation_retries", 3))
        if retries < 0:
            raise ValueError("failsafe navigation_retries must be >= 0")
        return cls(level("low_battery", Failsafe.RETURN), level("critical_battery", Failsafe.LAND),
                   level("link_lost", Failsafe.RETURN), retries)


@dataclass
class Mission:
    policy: FailsafePolicy = field(default_factory=FailsafePolicy)
    state: State = State.IDLE
    outcome: Outcome | None = None
    failsafe: Failsafe = Failsafe.CONTINUE
    navigation_failures: int = 0
    parcel_released: bool = False
    history: list[Transition] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def final_outcome(self) -> Outcome:
        if self.state == State.EMERGENCY_LAND:
            return Outcome.EMERGENCY_LANDED
        if self.outcome is not None:
            return self.outcome
        return Outcome.DELIVERED if self.parcel_released else Outcome.ABORTED

    def accepts(self, event: Event) -> bool:
        """Whether `handle(event)` would succeed now (the machine is not touched)."""
        try:
            copy.deepcopy(self).handle(event)
        except InvalidTransitionError:
            return False
        return True

    def handle(self, event: Event) -> Transition:
        """Apply one event. Raises InvalidTransitionError when it does not apply here."""
        if self.terminal:
            raise InvalidTransitionError(self.state, event)
        if event in (Event.LOW_BATTERY, Event.CRITICAL_BATTERY, Event.LINK_LOST):
            return self._record(self._failsafe(event))
        if event == Event.LINK_RESTORED:
            return self._record(_t(self.state, event, self.state, A.NONE))
        if event == Event.NAVIGATION_FAILED:
            return self._record(self._navigation_failed())
        if event in (Event.CANCEL, Event.RETURN_COMMAND) and self.state in FLYING:
            return self._record(self._go_home(event, Outcome.CANCELLED if event == Event.CANCEL else None))
        transition = TABLE.get((self.state, event))
        if transition is None and event in LATE_DROP_SIGNALS and self.parcel_released and self.state in AFTER_DROP:
            return self._record(self._late_drop_signal(event))
        if transition is None:
            raise InvalidTransitionError(self.state, event)
        if transition.action == A.RELEASE:
            self.parcel_released = True
        return self._record(transition)

    def _record(self, transition: Transition) -> Transition:
        if transition.target != self.state:
            self.navigation_failures = 0   # retries count per leg
        self.state = transition.target
        if transition.outcome is not None and self.outcome is None:
            self.outcome = transition.outcome
        self.history.append(transition)
        return transition

    def _late_drop_signal(self, event: Event) -> Transition:
        if event == Event.DROP_CONFIRMED and self.outcome == Outcome.DELIVERED_UNCONFIRMED:
            self.outcome = Outcome.DELIVERED   # the locker did see the parcel, only later than the drone waited
        return _t(self.state, event, self.state, A.NONE)

    def _carrying_outcome(self) -> Outcome | None:
        return Outcome.RETURNED_WITH_PARCEL if self.state in CARRYING else None

    def _go_home(self, event: Event, outcome: Outcome | None) -> Transition:
        if self.state in (State.RETURNING, State.LANDING):
            return _t(self.state, event, self.state, A.NONE, outcome)
        if self.state == State.DROPPED:   # released already: the drop stands, unconfirmed
            outcome = outcome or Outcome.DELIVERED_UNCONFIRMED
        return _t(self.state, event, State.RETURNING, A.FLY_HOME, outcome or self._carrying_outcome())

    def _failsafe(self, event: Event) -> Transition:
        wanted = {
            Event.LOW_BATTERY: self.policy.low_battery,
            Event.CRITICAL_BATTERY: self.policy.critical_battery,
            Event.LINK_LOST: self.policy.link_lost,
        }[event]
        if event == Event.LINK_LOST and self.state == State.DROPPED:
            wanted = Failsafe.CONTINUE    # the cell is open and the parcel is out: finish the drop
        if self.state == State.PREFLIGHT and wanted > Failsafe.CONTINUE:
            return _t(self.state, event, State.ABORTED, A.FINISH, Outcome.ABORTED)
        if self.state not in FLYING or wanted <= self.failsafe:
            return _t(self.state, event, self.state, A.NONE)   # only ever escalate
        self.failsafe = wanted
        if wanted == Failsafe.RETURN:
            return self._go_home(event, None)
        if self.state == State.LANDING:
            return _t(self.state, event, self.state, A.NONE)   # already landing at base: keep going down
        return _t(self.state, event, State.EMERGENCY_LAND, A.LAND_HERE, self._carrying_outcome())

    def _navigation_failed(self) -> Transition:
        if self.state not in NAV_GIVE_UP:
            raise InvalidTransitionError(self.state, Event.NAVIGATION_FAILED)
        self.navigation_failures += 1
        if self.navigation_failures <= self.policy.navigation_retries:
            return _t(self.state, Event.NAVIGATION_FAILED, self.state, A.RETRY_NAVIGATION)
        target, action, outcome = NAV_GIVE_UP[self.state]
        if outcome == Outcome.ABORTED and self.parcel_released:
            outcome = None
        return _t(self.state, Event.NAVIGATION_FAILED, target, action, outcome)
