"""The delivery lifecycle as a pure state machine: the happy path, every failure path, and a property:
whatever happened before, timeouts alone bring a delivery to a terminal state."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skypost_fleet import lifecycle as lc
from skypost_fleet.model import (
    TERMINAL,
    Delivery,
    DeliveryRequest,
    DropSignal,
    Mission,
    Outcome,
    Phase,
    State,
)

pytestmark = pytest.mark.unit
CFG = lc.LifecycleConfig(auto_retries=0)


def new(cfg=CFG) -> Delivery:
    return Delivery.new(DeliveryRequest("d1", "o1", "locker_1", "M"), 0.0, cfg.queue_timeout)


class Run:
    """Feeds events, keeps the record, the actions and the history."""

    def __init__(self, cfg=CFG, delivery=None):
        self.cfg = cfg
        self.d = delivery or new(cfg)
        self.now = 0.0
        self.actions = []
        self.history = []

    def __call__(self, *events, dt=1.0):
        for event in events:
            self.now += dt
            result = lc.step(self.d, event, self.now, self.cfg)
            self.d = result.delivery
            self.actions.extend(result.actions)
            self.history.extend(result.transitions)
        return self

    def timeout(self):
        self.now = max(self.now, self.d.deadline)
        result = lc.step(self.d, lc.Timeout(), self.now, self.cfg)
        self.d = result.delivery
        self.actions.extend(result.actions)
        self.history.extend(result.transitions)
        return self

    @property
    def a(self):
        return self.d.attempts

    def kinds(self):
        return [type(a).__name__ for a in self.actions]

    def take(self):
        out, self.actions = self.actions, []
        return out


def to_flying(run: Run) -> Run:
    run(lc.Assigned("drone_1", "base_1", "locker_1", 30.0))
    run(lc.Reserved(run.a, 4))
    run(lc.GoalSent(run.a, "g1", "drone_1"))
    return run


def to_waiting_drop(run: Run) -> Run:
    to_flying(run)
    run(
        lc.Progress(Mission.WAITING_DROP),
        lc.Opened(run.a),
        lc.Signalled(run.a, DropSignal.CELL_OPENED, True),
    )
    return run


def test_happy_path_visits_every_state_in_order():
    run = to_waiting_drop(Run())
    run(lc.Progress(Mission.DROPPED), lc.Occupied())
    run(lc.Signalled(run.a, DropSignal.DROP_CONFIRMED, True), lc.Closed(run.a, True))
    run(lc.GoalDone("g1", Outcome.DELIVERED, True), lc.Pickup(True, "code ok"))
    states = [h.state for h in run.history]
    assert [s for i, s in enumerate(states) if i == 0 or s != states[i - 1]] == [
        State.ASSIGNED,
        State.LOADING,
        State.IN_FLIGHT,
        State.AT_LOCKER,
        State.DROPPING,
        State.AWAITING_PICKUP,
        State.COMPLETED,
    ]
    assert run.d.drop_confirmed and not run.d.goal_active
    assert run.kinds() == [
        "ReserveCell",
        "SendGoal",
        "OpenCell",
        "SendDropControl",
        "SendDropControl",
        "CloseCell",
    ]
    signals = [a.signal for a in run.actions if isinstance(a, lc.SendDropControl)]
    assert signals == [DropSignal.CELL_OPENED, DropSignal.DROP_CONFIRMED]


def test_operator_loading_waits_for_confirmation():
    run = Run(lc.LifecycleConfig(auto_load=False))
    run(lc.Assigned("drone_1", "base_1", "locker_1"), lc.Reserved(1, 2))
    assert run.d.phase == Phase.LOADING and not any(isinstance(a, lc.SendGoal) for a in run.actions)
    run(lc.Loaded())
    assert run.d.phase == Phase.SENDING_GOAL and isinstance(run.actions[-1], lc.SendGoal)


def test_drop_not_confirmed_goes_to_pickup_unconfirmed():
    run = to_waiting_drop(Run())
    run(lc.Progress(Mission.DROPPED))
    run.take()
    run.timeout()
    assert run.actions[-1] == lc.SendDropControl("d1", 1, "drone_1", DropSignal.DROP_UNCONFIRMED)
    run(lc.Signalled(run.a, DropSignal.DROP_UNCONFIRMED, True), lc.Closed(run.a, True))
    assert run.d.state == State.AWAITING_PICKUP and not run.d.drop_confirmed


def test_cell_that_does_not_open_is_replaced_by_another():
    run = to_flying(Run())
    run(lc.Progress(Mission.WAITING_DROP))
    run.take()
    run(lc.OpenFailed(run.a, "jammed", alternatives=(4, 5)))
    kinds = run.kinds()
    assert kinds == ["CloseCell", "ReleaseCell", "ReserveCell"]
    assert run.actions[-1].cell_id == 5  # 4 was the cell that failed
    run(lc.Reserved(run.a, 5), lc.Opened(run.a))
    assert run.d.cell_id == 5 and run.d.phase == Phase.SIGNAL_OPENED


def test_no_cell_opens_cell_failed_then_failed_and_released():
    run = to_flying(Run())
    run(lc.Progress(Mission.WAITING_DROP))
    run.take()
    run(lc.OpenFailed(run.a, "jammed", alternatives=()))
    assert run.actions[-1] == lc.SendDropControl("d1", 1, "drone_1", DropSignal.CELL_FAILED)
    assert any(isinstance(a, lc.ReleaseCell) for a in run.actions)
    run(lc.Signalled(run.a, DropSignal.CELL_FAILED, True))
    assert run.d.state == State.FAILED and run.d.reason.startswith("cell_failed")
    assert run.d.goal_active  # the drone still flies home with the parcel
    run(lc.GoalDone("g1", Outcome.RETURNED_WITH_PARCEL, False))
    assert run.d.state == State.FAILED and not run.d.goal_active


@pytest.mark.parametrize(
    "phase_events",
    [
        [lc.Assigned("drone_1", "base_1", "locker_1")],
        [lc.Assigned("drone_1", "base_1", "locker_1"), lc.Reserved(1, 4)],
    ],
)
def test_drone_lost_before_loading_requeues_and_releases(phase_events):
    cfg = lc.LifecycleConfig(auto_load=False, auto_retries=1)
    run = Run(cfg)(*phase_events)
    run.take()
    run(lc.DroneDown("offline"))
    assert run.d.state == State.QUEUED and run.d.drone_id == "" and run.d.attempts == 1
    assert lc.ReleaseCell("d1", "locker_1") in run.actions


def test_requeue_stops_when_retries_are_used_up():
    run = Run(lc.LifecycleConfig(auto_load=False, auto_retries=1))
    for _ in range(2):
        run(lc.Assigned("drone_1", "base_1", "locker_1"), lc.ReserveFailed(run.a + 1, "locker busy"))
    assert run.d.state == State.FAILED and run.d.attempts == 2


def test_drone_offline_after_loading_fails_with_reason_and_release():
    run = to_flying(Run())
    run.take()
    run(lc.DroneDown("no state for 31 s"))
    assert run.d.state == State.FAILED and run.d.reason.startswith("drone_offline")
    assert run.kinds() == ["ReleaseCell", "CancelGoal"]


def test_drone_abort_in_flight_fails_or_retries_by_policy():
    run = to_flying(Run())
    run(lc.GoalDone("g1", Outcome.ABORTED, False, "navigate refused"))
    assert run.d.state == State.FAILED and "drone_aborted" in run.d.reason
    retrying = to_flying(Run(lc.LifecycleConfig(auto_retries=2)))
    retrying(lc.GoalDone("g1", Outcome.ABORTED, False, "navigate refused"))
    assert retrying.d.state == State.QUEUED and "retry 1/2" in retrying.d.reason
    emergency = to_flying(Run(lc.LifecycleConfig(auto_retries=2)))
    emergency(lc.GoalDone("g1", Outcome.EMERGENCY_LANDED, False))
    assert emergency.d.state == State.FAILED  # not retryable: the parcel is not at the base


def test_cancel_in_flight_undoes_everything():
    run = to_flying(Run())
    run.take()
    run(lc.Cancel("customer"))
    assert run.d.state == State.CANCELLED
    assert run.kinds() == ["ReleaseCell", "CancelGoal"] and run.actions[-1].goal_id == "g1"


def test_cancel_at_the_open_cell_closes_it():
    run = to_waiting_drop(Run())
    run.take()
    run(lc.Cancel("weather"))
    assert run.kinds() == ["CloseCell", "ReleaseCell", "CancelGoal"]


def test_cancel_after_the_drop_keeps_the_parcel_reserved():
    run = to_waiting_drop(Run())
    run(lc.Progress(Mission.DROPPED), lc.Occupied())
    run.take()
    run(lc.Cancel("customer"))
    assert run.d.state == State.CANCELLED and "stays in locker_1" in run.d.reason
    assert not any(isinstance(a, lc.ReleaseCell) for a in run.actions)


def test_late_answers_to_an_old_attempt_are_ignored():
    run = Run(lc.LifecycleConfig(auto_load=False, auto_retries=3))
    run(lc.Assigned("drone_1", "base_1", "locker_1"))
    run.timeout()  # reserve timed out -> QUEUED
    run(lc.Assigned("drone_2", "base_1", "locker_1"))
    before = run.d
    run(lc.Reserved(1, 7))  # attempt 1 answers late
    assert run.d.phase == before.phase and run.d.cell_id == 0


def test_goal_sent_after_cancel_is_called_back():
    run = Run()(lc.Assigned("drone_1", "base_1", "locker_1"), lc.Reserved(1, 4))
    run(lc.Cancel("customer"))
    run.take()
    run(lc.GoalSent(1, "g9", "drone_1"))
    assert run.actions == [lc.CancelGoal("d1", "drone_1", "g9")]


def test_goal_lost_after_progress_fails_but_before_start_requeues():
    started = to_flying(Run())
    started(lc.Progress(Mission.NAVIGATING), lc.GoalLost("g1"))
    assert started.d.state == State.FAILED and started.d.reason.startswith("goal_lost")
    never = to_flying(Run(lc.LifecycleConfig(auto_retries=1)))
    never(lc.GoalLost("g1"))
    assert never.d.state == State.QUEUED and "goal_not_started" in never.d.reason


def test_retry_requeues_a_failed_delivery_with_fresh_attempts():
    run = to_flying(Run())
    run(lc.GoalDone("g1", Outcome.ABORTED, False))
    run(lc.Retry("operator"))
    assert run.d.state == State.QUEUED and run.d.retry_base == 1 and run.d.locker_id == "locker_1"


def test_pickup_refused_keeps_waiting_then_timeout_fails():
    run = to_waiting_drop(Run())
    run(
        lc.Progress(Mission.DROPPED),
        lc.Occupied(),
        lc.Signalled(1, DropSignal.DROP_CONFIRMED, True),
        lc.Closed(1, True),
    )
    run(lc.Pickup(False, "wrong code"))
    assert run.d.state == State.AWAITING_PICKUP and "wrong code" in run.d.reason
    run.timeout()
    assert run.d.state == State.FAILED and run.d.reason.startswith("pickup_timeout")


def test_resume_redoes_the_pending_call():
    run = to_flying(Run())
    run(lc.Progress(Mission.WAITING_DROP))
    again = lc.resume(run.d, 100.0, CFG)
    assert again.actions == [lc.OpenCell("d1", 1, "locker_1", 4)]
    sending = Run()(lc.Assigned("drone_1", "base_1", "locker_1"), lc.Reserved(1, 4))
    assert sending.d.phase == Phase.SENDING_GOAL
    resumed = lc.resume(sending.d, 100.0, CFG).delivery
    assert resumed.state == State.IN_FLIGHT and resumed.goal_active and resumed.goal_drone == "drone_1"


def test_eta_follows_feedback():
    run = to_flying(Run())
    run(lc.Progress(Mission.NAVIGATING, 42.0))
    assert run.d.eta == 42.0 and run.d.state == State.IN_FLIGHT
    run(lc.Progress(Mission.NAVIGATING, math.nan))  # unknown ETA keeps the last one
    assert run.d.eta == 42.0


# ------------------------------------------------------------------------------------------- property
EVENTS = st.one_of(
    st.builds(
        lc.Assigned,
        st.sampled_from(["drone_1", "drone_2"]),
        st.just("base_1"),
        st.sampled_from(["locker_1", "locker_2"]),
    ),
    st.builds(lc.Reserved, st.integers(0, 4), st.integers(1, 8)),
    st.builds(lc.ReserveFailed, st.integers(0, 4), st.just("x")),
    st.just(lc.Loaded()),
    st.builds(lc.GoalSent, st.integers(0, 4), st.sampled_from(["g1", "g2"]), st.just("drone_1")),
    st.builds(lc.GoalSendFailed, st.integers(0, 4), st.just("x")),
    st.builds(lc.Progress, st.sampled_from(list(Mission))),
    st.builds(
        lc.GoalDone, st.sampled_from(["g1", "g2", ""]), st.sampled_from(list(Outcome)), st.booleans()
    ),
    st.builds(lc.GoalLost, st.sampled_from(["g1", "g2"])),
    st.builds(lc.DroneDown, st.just("offline")),
    st.builds(lc.Opened, st.integers(0, 4)),
    st.builds(
        lc.OpenFailed, st.integers(0, 4), st.just("jam"), st.lists(st.integers(1, 8), max_size=3).map(tuple)
    ),
    st.builds(lc.Signalled, st.integers(0, 4), st.sampled_from(list(DropSignal)), st.booleans()),
    st.just(lc.Occupied()),
    st.builds(lc.Closed, st.integers(0, 4), st.booleans()),
    st.builds(lc.Pickup, st.booleans()),
    st.builds(lc.Cancel, st.just("c")),
    st.builds(lc.Retry, st.just("r")),
    st.just(lc.Timeout()),
)


@settings(max_examples=400, deadline=None)
@given(events=st.lists(EVENTS, max_size=40), auto_load=st.booleans(), retries=st.integers(0, 3))
def test_any_event_sequence_ends_terminal_after_finitely_many_timeouts(events, auto_load, retries):
    cfg = lc.LifecycleConfig(auto_load=auto_load, auto_retries=retries)
    run = Run(cfg)(*events)
    for _ in range(200):
        if run.d.state in TERMINAL:
            break
        assert run.d.deadline > 0, f"non-terminal phase {run.d.phase} without a deadline"
        run.timeout()
    assert run.d.state in TERMINAL
    # invariants that hold whatever happened
    assert run.d.attempts - run.d.retry_base <= retries + 1 or run.d.state in TERMINAL
    for action in run.actions:
        assert action.delivery_id == "d1"


def plausible_events(d):
    """(ordinary, disruptive) events for the delivery now: current attempt and goal, plus stale ones."""
    a, goal = d.attempts, d.goal_id or "g1"
    ordinary = [
        lc.Assigned("drone_1", "base_1", "locker_1"), lc.Reserved(a, 4), lc.Reserved(a - 1, 5), lc.Loaded(),
        lc.GoalSent(a, f"g{a}", "drone_1"), *[lc.Progress(m) for m in (Mission.NAVIGATING, Mission.WAITING_DROP,
                                                                        Mission.DROPPED, Mission.IDLE)],
        lc.Opened(a), lc.Opened(a - 1),
        *[lc.Signalled(a, s, True) for s in DropSignal], lc.Occupied(), lc.Closed(a, True), lc.Pickup(True),
    ]
    disruptive = [
        lc.ReserveFailed(a, "x"), lc.GoalSendFailed(a, "x"), lc.GoalLost(goal), lc.DroneDown("x"),
        *[lc.GoalDone(goal, o, r) for o in (Outcome.DELIVERED, Outcome.RETURNED_WITH_PARCEL, Outcome.ABORTED,
                                            Outcome.EMERGENCY_LANDED) for r in (True, False)],
        lc.OpenFailed(a, "jam", (5, 6)), lc.OpenFailed(a, "jam", ()),
        *[lc.Signalled(a, s, False) for s in DropSignal], lc.Closed(a, False), lc.Pickup(False),
        lc.Cancel("c"), lc.Retry("r"), lc.Timeout(),
    ]
    return ordinary, disruptive


@settings(max_examples=300, deadline=None)
@given(data=st.data(), auto_load=st.booleans(), retries=st.integers(0, 2))
def test_plausible_event_sequences_end_terminal_and_never_lose_a_goal(data, auto_load, retries):
    cfg = lc.LifecycleConfig(auto_load=auto_load, auto_retries=retries)
    run = Run(cfg)
    for _ in range(data.draw(st.integers(0, 150), label="steps")):
        ordinary, disruptive = plausible_events(run.d)
        pool = disruptive if data.draw(st.integers(0, 9), label="disrupt") == 0 else ordinary
        run(data.draw(st.sampled_from(pool), label="event"))
    for _ in range(200):
        if run.d.terminal:
            break
        assert run.d.deadline > 0, f"non-terminal phase {run.d.phase} without a deadline"
        run.timeout()
    assert run.d.terminal
    # a goal is only ever sent after a cell was reserved, and a running goal is always known by id
    if run.d.goal_active:
        assert run.d.goal_drone == "drone_1" and run.d.goal_id
    sent = [a for a in run.actions if isinstance(a, lc.SendGoal)]
    assert all(a.cell_id for a in sent)
    assert all(a.drone_id for a in run.actions if isinstance(a, lc.CancelGoal | lc.SendDropControl))
    # a cell reserved for a parcel that never reached it is released again
    dropped = any(h.state in (State.DROPPING, State.AWAITING_PICKUP) for h in run.history)
    if run.d.state in (State.FAILED, State.CANCELLED) and not dropped:
        kinds = [type(a) for a in run.actions]
        last_reserve = max((i for i, k in enumerate(kinds) if k is lc.ReserveCell), default=-1)
        last_release = max((i for i, k in enumerate(kinds) if k is lc.ReleaseCell), default=-1)
        assert last_reserve < 0 or last_release > last_reserve, "a reservation was left behind"
