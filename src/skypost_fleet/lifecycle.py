"""A delivery's lifecycle as a pure state machine: (delivery, event, now) -> (delivery', actions).

The machine never calls anything. It returns the actions the runner must carry out (locker services, the
drone's Deliver goal, drop_control); the runner reports each result back as an event tagged with the attempt
that asked for it, so a late answer to an older attempt is recognised and ignored. Every non-terminal phase
has a deadline; a Timeout event at the deadline moves the delivery on, so any sequence of events followed by
timeouts ends in a terminal state (tests/unit/test_fleet_lifecycle.py checks this with hypothesis).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from skypost_fleet.model import Delivery, DropSignal, Mission, Outcome, Phase, State

# ------------------------------------------------------------------------------------------------- config


@dataclass(frozen=True)
class LifecycleConfig:
    auto_load: bool = True
    auto_retries: int = 2  # automatic re-dispatches after a retryable failure
    retryable: frozenset[str] = frozenset(
        {
            "reserve_failed",
            "reserve_timeout",
            "drone_unavailable",
            "loading_timeout",
            "goal_not_sent",
            "goal_not_started",
            "returned_with_parcel",
            "drone_aborted",
            "cell_failed",
            "goal_cancelled",
            "no_drop",
        }
    )
    queue_timeout: float = 86400.0  # QUEUED longer than this: FAILED
    action_timeout: float = 30.0  # any locker / drop_control call (the runner's own timeouts are shorter)
    loading_timeout: float = 900.0  # operator did not confirm loading
    mission_timeout: float = 1800.0  # goal sent -> at the locker
    drop_timeout: float = 120.0  # cell opened -> drone reports DROPPED
    confirm_timeout: float = 20.0  # DROPPED -> cell occupancy seen
    pickup_timeout: float = 259200.0  # parcel in the cell -> picked up (3 days)
    max_cells: int = 3  # cells tried at one locker before CELL_FAILED
    max_signal_tries: int = 3  # drop_control / close_cell attempts


# ------------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Assigned:
    drone_id: str
    base_id: str
    locker_id: str
    eta: float = math.nan


@dataclass(frozen=True)
class Reserved:
    attempt: int
    cell_id: int


@dataclass(frozen=True)
class ReserveFailed:
    attempt: int
    reason: str


@dataclass(frozen=True)
class Loaded:
    pass


@dataclass(frozen=True)
class GoalSent:
    attempt: int
    goal_id: str
    drone_id: str


@dataclass(frozen=True)
class GoalSendFailed:
    attempt: int
    reason: str


@dataclass(frozen=True)
class Progress:
    """The drone reports a mission state for this delivery (action feedback or /<drone>/state)."""

    mission_state: int
    eta: float = math.nan


@dataclass(frozen=True)
class GoalDone:
    goal_id: str
    outcome: int
    parcel_released: bool
    message: str = ""


@dataclass(frozen=True)
class GoalLost:
    """The drone no longer runs our goal and no result arrived (drone node restarted, fleet was down)."""

    goal_id: str


@dataclass(frozen=True)
class DroneDown:
    """The assigned drone went OFFLINE (or, before take-off, became unusable)."""

    reason: str


@dataclass(frozen=True)
class Opened:
    attempt: int


@dataclass(frozen=True)
class OpenFailed:
    attempt: int
    reason: str
    alternatives: tuple[int, ...] = ()  # other free cells of the size at this locker, best first


@dataclass(frozen=True)
class Signalled:
    attempt: int
    signal: int
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Occupied:
    pass


@dataclass(frozen=True)
class Closed:
    attempt: int
    ok: bool
    message: str = ""


@dataclass(frozen=True)
class Pickup:
    success: bool
    message: str = ""


@dataclass(frozen=True)
class Cancel:
    reason: str


@dataclass(frozen=True)
class Retry:
    reason: str


@dataclass(frozen=True)
class Timeout:
    pass


Event = (
    Assigned
    | Reserved
    | ReserveFailed
    | Loaded
    | GoalSent
    | GoalSendFailed
    | Progress
    | GoalDone
    | GoalLost
    | DroneDown
    | Opened
    | OpenFailed
    | Signalled
    | Occupied
    | Closed
    | Pickup
    | Cancel
    | Retry
    | Timeout
)

# ------------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ReserveCell:
    delivery_id: str
    attempt: int
    locker_id: str
    size: str
    cell_id: int = 0


@dataclass(frozen=True)
class ReleaseCell:
    delivery_id: str
    locker_id: str


@dataclass(frozen=True)
class OpenCell:
    delivery_id: str
    attempt: int
    locker_id: str
    cell_id: int


@dataclass(frozen=True)
class CloseCell:
    delivery_id: str
    attempt: int
    locker_id: str
    cell_id: int


@dataclass(frozen=True)
class SendGoal:
    delivery_id: str
    attempt: int
    drone_id: str
    locker_id: str
    cell_id: int
    base_id: str


@dataclass(frozen=True)
class CancelGoal:
    delivery_id: str
    drone_id: str
    goal_id: str  # empty: cancel whatever the drone runs (used only when the goal id was never recorded)


@dataclass(frozen=True)
class SendDropControl:
    delivery_id: str
    attempt: int
    drone_id: str
    signal: int


Action = ReserveCell | ReleaseCell | OpenCell | CloseCell | SendGoal | CancelGoal | SendDropControl
# Undo calls: idempotent, nothing waits for their answer, and none may be lost to a crash (the core keeps them
# in the store's outbox until they have run). The other calls are redone by `resume` from the phase.
UNDO_ACTIONS = (ReleaseCell, CloseCell, CancelGoal)


def dump_action(action: Action) -> str:
    return json.dumps({"type": type(action).__name__, **asdict(action)})


def load_action(text: str) -> Action:
    data = json.loads(text)
    kinds = {cls.__name__: cls for cls in UNDO_ACTIONS}
    return kinds[data.pop("type")](**data)


@dataclass
class Step:
    """The machine's answer: the new record, what to do, and whether the public state or reason changed."""

    delivery: Delivery
    actions: list[Action] = field(default_factory=list)
    transitions: list[Delivery] = field(default_factory=list)  # records to append to the history, in order

    @property
    def changed(self) -> bool:
        return bool(self.transitions)


# ------------------------------------------------------------------------------------------------- helpers

PRE_DROP_PHASES = frozenset(
    {
        Phase.FLYING,
        Phase.OPENING,
        Phase.RESERVING_ALT,
        Phase.SIGNAL_OPENED,
        Phase.WAITING_DROP,
        Phase.SIGNAL_CELL_FAILED,
    }
)
CELL_MAY_BE_OPEN = frozenset({Phase.SIGNAL_OPENED, Phase.WAITING_DROP, Phase.SIGNAL_CELL_FAILED})
OUTCOME_REASONS = {
    Outcome.RETURNED_WITH_PARCEL: "returned_with_parcel",
    Outcome.ABORTED: "drone_aborted",
    Outcome.CANCELLED: "goal_cancelled",
    Outcome.EMERGENCY_LANDED: "emergency_landed",
}


def reason_code(reason: str) -> str:
    return reason.split(":", 1)[0].strip()


class _Machine:
    """One step's working state; handlers mutate `d` through helpers that also record transitions."""

    def __init__(self, d: Delivery, now: float, cfg: LifecycleConfig) -> None:
        self.d = d
        self.now = now
        self.cfg = cfg
        self.step = Step(d)

    # -- recording
    def update(self, **changes) -> None:
        self.d = replace(self.d, updated=self.now, **changes)

    def enter(self, state: State, phase: Phase, reason: str, timeout: float | None, **changes) -> None:
        deadline = self.now + timeout if timeout is not None else 0.0
        self.update(state=state, phase=phase, reason=reason, deadline=deadline, **changes)
        self.step.transitions.append(self.d)

    def note(self, reason: str) -> None:
        """Same state, new reason: recorded and published like a transition."""
        self.update(reason=reason)
        self.step.transitions.append(self.d)

    def do(self, *actions: Action) -> None:
        self.step.actions.extend(actions)

    def finish(self) -> Step:
        self.step.delivery = self.d
        return self.step

    # -- shared moves
    @property
    def attempt(self) -> int:
        return self.d.attempts

    def release(self) -> None:
        if self.d.locker_id:
            self.do(ReleaseCell(self.d.delivery_id, self.d.locker_id))

    def close(self) -> None:
        if self.d.locker_id and self.d.cell_id:
            self.do(CloseCell(self.d.delivery_id, self.attempt, self.d.locker_id, self.d.cell_id))

    def cancel_goal(self) -> None:
        if self.d.goal_active:
            self.do(CancelGoal(self.d.delivery_id, self.d.goal_drone, self.d.goal_id))

    def retries_left(self) -> bool:
        return self.d.attempts - self.d.retry_base <= self.cfg.auto_retries

    def requeue_or_fail(self, reason: str) -> None:
        """A failure the retry policy may absorb: QUEUED if retryable with attempts left, else FAILED."""
        if reason_code(reason) in self.cfg.retryable and self.retries_left():
            used = self.d.attempts - self.d.retry_base
            self.enter(
                State.QUEUED,
                Phase.QUEUED,
                f"{reason} (retry {used}/{self.cfg.auto_retries})",
                self.cfg.queue_timeout,
                drone_id="",
                base_id="",
                cell_id=0,
                loaded=False,
                locker_id=self.d.requested_locker,
                tried_cells=(),
                signal_tries=0,
                eta=math.nan,
                drop_confirmed=False,
                seen_progress=False,
            )
        else:
            self.fail(reason)

    def fail(self, reason: str) -> None:
        self.enter(State.FAILED, Phase.DONE, reason, None, eta=math.nan)

    def cancelled(self, reason: str) -> None:
        self.enter(State.CANCELLED, Phase.DONE, reason, None, eta=math.nan)

    def goal_failure_reason(self, event: GoalDone) -> str:
        try:
            code = OUTCOME_REASONS.get(Outcome(event.outcome), "drone_reported_delivery")
        except ValueError:
            code = "drone_unknown_outcome"
        return f"{code}: {event.message}" if event.message else code


Handler = Callable[[_Machine, Event], None]

# --------------------------------------------------------------------------------------------------- handlers


def _on_cancel(m: _Machine, e: Cancel) -> None:
    d = m.d
    reason = f"cancelled: {e.reason}" if e.reason else "cancelled"
    if d.phase in (Phase.QUEUED,):
        m.cancelled(reason)
    elif d.phase in (Phase.RESERVING, Phase.LOADING, Phase.SENDING_GOAL):
        m.release()
        m.cancel_goal()
        m.cancelled(reason)
    elif d.phase in PRE_DROP_PHASES:
        if d.phase in CELL_MAY_BE_OPEN or d.phase == Phase.OPENING:
            m.close()
        m.release()
        m.cancel_goal()
        m.cancelled(f"{reason}; the drone returns with the parcel")
    else:  # the parcel is in (or on its way into) the cell: it stays there for staff to retrieve
        if d.phase in (Phase.CONFIRMING, Phase.SIGNAL_CONFIRM, Phase.CLOSING):
            m.close()
        m.cancel_goal()
        m.cancelled(f"{reason}; the parcel stays in {d.locker_id} cell {d.cell_id} for retrieval")


def _on_timeout(m: _Machine, e: Timeout) -> None:
    d, cfg = m.d, m.cfg
    match d.phase:
        case Phase.QUEUED:
            waited = m.now - d.queued_since
            m.fail(f"queue_timeout: not dispatched within {waited:.0f} s ({d.reason})")
        case Phase.RESERVING:
            m.release()
            m.requeue_or_fail("reserve_timeout: the locker did not answer")
        case Phase.LOADING:
            m.release()
            m.requeue_or_fail(
                f"loading_timeout: parcel not confirmed loaded within {cfg.loading_timeout:.0f} s"
            )
        case Phase.SENDING_GOAL:
            m.release()
            m.requeue_or_fail("goal_not_sent: timed out sending the Deliver goal")
        case Phase.FLYING:
            m.release()
            m.cancel_goal()
            m.fail(f"mission_timeout: not at the locker within {cfg.mission_timeout:.0f} s")
        case Phase.OPENING | Phase.RESERVING_ALT:
            m.close()
            m.release()
            _signal(
                m,
                Phase.SIGNAL_CELL_FAILED,
                DropSignal.CELL_FAILED,
                "cell_failed: the locker did not answer",
            )
        case Phase.SIGNAL_OPENED:
            _retry_signal_or(
                m, lambda: _abandon_at_locker(m, "drop_control_failed: the drone did not take CELL_OPENED")
            )
        case Phase.WAITING_DROP:
            m.close()
            m.release()
            _signal(
                m,
                Phase.SIGNAL_CELL_FAILED,
                DropSignal.CELL_FAILED,
                f"no_drop: the drone did not drop within {cfg.drop_timeout:.0f} s",
            )
        case Phase.SIGNAL_CELL_FAILED:
            _retry_signal_or(m, lambda: _fail_after_cell_failed(m, cancel=True))
        case Phase.CONFIRMING:
            _signal(
                m,
                Phase.SIGNAL_CONFIRM,
                DropSignal.DROP_UNCONFIRMED,
                "drop not confirmed by the locker's sensor",
                state=State.DROPPING,
                drop_confirmed=False,
            )
        case Phase.SIGNAL_CONFIRM:
            _retry_signal_or(m, lambda: _start_closing(m))
        case Phase.CLOSING:
            if d.signal_tries < cfg.max_signal_tries:
                m.update(signal_tries=d.signal_tries + 1, deadline=m.now + cfg.action_timeout)
                m.close()
            else:
                _awaiting_pickup(m, "close_failed: the locker did not confirm closing")
        case Phase.AWAITING_PICKUP:
            m.fail(
                f"pickup_timeout: not picked up within {cfg.pickup_timeout:.0f} s; "
                f"parcel in {d.locker_id} cell {d.cell_id}"
            )


def _signal(
    m: _Machine, phase: Phase, signal: DropSignal, reason: str, state: State | None = None, **changes
) -> None:
    m.enter(
        state if state is not None else m.d.state,
        phase,
        reason,
        m.cfg.action_timeout,
        signal_tries=1,
        **changes,
    )
    m.do(SendDropControl(m.d.delivery_id, m.attempt, m.d.drone_id, int(signal)))


def _retry_signal_or(m: _Machine, give_up: Callable[[], None]) -> None:
    d = m.d
    if d.signal_tries < m.cfg.max_signal_tries:
        signal = {
            Phase.SIGNAL_OPENED: DropSignal.CELL_OPENED,
            Phase.SIGNAL_CELL_FAILED: DropSignal.CELL_FAILED,
            Phase.SIGNAL_CONFIRM: (
                DropSignal.DROP_CONFIRMED if d.drop_confirmed else DropSignal.DROP_UNCONFIRMED
            ),
        }[d.phase]
        m.update(signal_tries=d.signal_tries + 1, deadline=m.now + m.cfg.action_timeout)
        m.do(SendDropControl(d.delivery_id, m.attempt, d.drone_id, int(signal)))
    else:
        give_up()


def _abandon_at_locker(m: _Machine, reason: str) -> None:
    """The drone cannot be told to drop: close the cell, free it, send the drone home."""
    m.close()
    m.release()
    m.cancel_goal()
    m.requeue_or_fail(reason)


def _fail_after_cell_failed(m: _Machine, cancel: bool) -> None:
    if cancel:
        m.cancel_goal()
    reason = m.d.reason if m.d.reason.startswith(("cell_failed", "no_drop")) else "cell_failed"
    m.requeue_or_fail(reason)


def _start_closing(m: _Machine) -> None:
    m.enter(State.DROPPING, Phase.CLOSING, f"closing cell {m.d.cell_id}", m.cfg.action_timeout,
            signal_tries=1)
    m.close()


def _awaiting_pickup(m: _Machine, reason: str) -> None:
    m.enter(State.AWAITING_PICKUP, Phase.AWAITING_PICKUP, reason, m.cfg.pickup_timeout, eta=math.nan)


def _start_dropping(m: _Machine) -> None:
    m.enter(
        State.DROPPING,
        Phase.CONFIRMING,
        "parcel released, waiting for the locker to confirm",
        m.cfg.confirm_timeout,
        seen_progress=True,
    )


def _on_assigned(m: _Machine, e: Assigned) -> None:
    if m.d.phase != Phase.QUEUED:
        return
    m.enter(
        State.ASSIGNED,
        Phase.RESERVING,
        f"assigned to {e.drone_id}",
        m.cfg.action_timeout,
        drone_id=e.drone_id,
        base_id=e.base_id,
        locker_id=e.locker_id,
        attempts=m.d.attempts + 1,
        cell_id=0,
        tried_cells=(),
        loaded=False,
        eta=e.eta,
        goal_id=m.d.goal_id if m.d.goal_active else "",  # a previous attempt's goal may still be running
        seen_progress=False,
    )
    m.do(ReserveCell(m.d.delivery_id, m.attempt, e.locker_id, m.d.cell_size))


def _on_reserved(m: _Machine, e: Reserved) -> None:
    d = m.d
    if e.attempt != d.attempts:
        return
    if d.phase == Phase.RESERVING:
        if m.cfg.auto_load:
            m.enter(
                State.LOADING,
                Phase.LOADING,
                f"cell {e.cell_id} reserved; loading (automatic)",
                None,
                cell_id=e.cell_id,
            )
            _send_goal(m, "parcel loaded (automatic)")
        else:
            m.enter(
                State.LOADING,
                Phase.LOADING,
                f"cell {e.cell_id} reserved; waiting for the parcel to be loaded",
                m.cfg.loading_timeout,
                cell_id=e.cell_id,
            )
    elif d.phase == Phase.RESERVING_ALT:
        m.enter(
            State.AT_LOCKER,
            Phase.OPENING,
            f"opening alternative cell {e.cell_id}",
            m.cfg.action_timeout,
            cell_id=e.cell_id,
        )
        m.do(OpenCell(d.delivery_id, m.attempt, d.locker_id, e.cell_id))


def _send_goal(m: _Machine, reason: str) -> None:
    m.enter(State.LOADING, Phase.SENDING_GOAL, reason, m.cfg.action_timeout, loaded=True)
    m.do(SendGoal(m.d.delivery_id, m.attempt, m.d.drone_id, m.d.locker_id, m.d.cell_id, m.d.base_id))


def _on_reserve_failed(m: _Machine, e: ReserveFailed) -> None:
    d = m.d
    if e.attempt != d.attempts:
        return
    if d.phase == Phase.RESERVING:
        m.release()  # the call may have reserved before failing on our side; releasing is idempotent
        m.requeue_or_fail(f"reserve_failed: {e.reason}")
    elif d.phase == Phase.RESERVING_ALT:
        m.release()
        _signal(
            m, Phase.SIGNAL_CELL_FAILED, DropSignal.CELL_FAILED, f"cell_failed: no other cell ({e.reason})"
        )


def _on_loaded(m: _Machine, e: Loaded) -> None:
    if m.d.phase == Phase.LOADING:
        _send_goal(m, "parcel loaded (confirmed by an operator)")


def _on_goal_sent(m: _Machine, e: GoalSent) -> None:
    d = m.d
    if e.attempt == d.attempts and d.phase == Phase.SENDING_GOAL:
        latency = d.dispatch_latency if not math.isnan(d.dispatch_latency) else m.now - d.created
        m.enter(
            State.IN_FLIGHT,
            Phase.FLYING,
            f"flying to {d.locker_id}",
            m.cfg.mission_timeout,
            goal_id=e.goal_id,
            goal_drone=e.drone_id,
            goal_active=True,
            goal_sent_at=m.now,
            dispatch_latency=latency,
        )
    else:  # a goal nobody waits for any more (the delivery moved on while it was being sent): call it back
        m.do(CancelGoal(d.delivery_id, e.drone_id, e.goal_id))


def _on_goal_send_failed(m: _Machine, e: GoalSendFailed) -> None:
    if e.attempt == m.d.attempts and m.d.phase == Phase.SENDING_GOAL:
        m.release()
        m.requeue_or_fail(f"goal_not_sent: {e.reason}")


def _on_progress(m: _Machine, e: Progress) -> None:
    d = m.d
    if d.terminal:
        return
    eta = e.eta if not math.isnan(e.eta) else d.eta
    if e.mission_state == Mission.WAITING_DROP and d.phase == Phase.FLYING:
        m.enter(
            State.AT_LOCKER,
            Phase.OPENING,
            f"over {d.locker_id}, opening cell {d.cell_id}",
            m.cfg.action_timeout,
            eta=0.0,
            seen_progress=True,
        )
        m.do(OpenCell(d.delivery_id, m.attempt, d.locker_id, d.cell_id))
    elif e.mission_state == Mission.DROPPED and d.phase in (Phase.SIGNAL_OPENED, Phase.WAITING_DROP):
        _start_dropping(m)
    else:
        m.update(eta=eta, seen_progress=d.seen_progress or d.goal_active)


def _on_goal_done(m: _Machine, e: GoalDone) -> None:
    d = m.d
    if not d.goal_active or (e.goal_id and d.goal_id and e.goal_id != d.goal_id):
        return
    m.update(goal_active=False)
    if d.phase in PRE_DROP_PHASES:
        if e.parcel_released and d.phase in (Phase.SIGNAL_OPENED, Phase.WAITING_DROP):
            _start_dropping(m)
            return
        if d.phase in CELL_MAY_BE_OPEN or d.phase == Phase.OPENING:
            m.close()
        m.release()
        if d.phase == Phase.SIGNAL_CELL_FAILED:
            _fail_after_cell_failed(m, cancel=False)
        elif e.parcel_released:
            m.fail(f"released_away: the drone released the parcel before the cell opened ({e.message})")
        else:
            m.requeue_or_fail(m.goal_failure_reason(e))


def _on_goal_lost(m: _Machine, e: GoalLost) -> None:
    d = m.d
    if not d.goal_active or (e.goal_id and d.goal_id and e.goal_id != d.goal_id):
        return
    m.update(goal_active=False)
    if d.phase in PRE_DROP_PHASES:
        if d.phase in CELL_MAY_BE_OPEN or d.phase == Phase.OPENING:
            m.close()
        m.release()
        if d.seen_progress:
            m.fail("goal_lost: the drone no longer runs this delivery and gave no result")
        else:
            m.requeue_or_fail("goal_not_started: the drone never started this delivery")


def _on_drone_down(m: _Machine, e: DroneDown) -> None:
    d = m.d
    if d.phase in (Phase.RESERVING, Phase.LOADING, Phase.SENDING_GOAL):
        m.release()
        m.requeue_or_fail(f"drone_unavailable: {e.reason}")
    elif d.phase in PRE_DROP_PHASES:
        if d.phase in CELL_MAY_BE_OPEN or d.phase == Phase.OPENING:
            m.close()
        m.release()
        m.cancel_goal()
        m.fail(f"drone_offline: {e.reason}")
    # after the drop the parcel is in the cell: the drone's fate no longer changes the delivery


def _on_opened(m: _Machine, e: Opened) -> None:
    if e.attempt == m.d.attempts and m.d.phase == Phase.OPENING:
        _signal(m, Phase.SIGNAL_OPENED, DropSignal.CELL_OPENED, f"cell {m.d.cell_id} open, drone may drop")


def _on_open_failed(m: _Machine, e: OpenFailed) -> None:
    d = m.d
    if e.attempt != d.attempts or d.phase != Phase.OPENING:
        return
    tried = (*d.tried_cells, d.cell_id)
    spare = [c for c in e.alternatives if c not in tried]
    m.close()  # the lock may have half-moved
    m.release()
    if spare and len(tried) < m.cfg.max_cells:
        m.enter(
            State.AT_LOCKER,
            Phase.RESERVING_ALT,
            f"cell {d.cell_id} did not open ({e.reason}); trying cell {spare[0]}",
            m.cfg.action_timeout,
            tried_cells=tried,
            cell_id=spare[0],
        )
        m.do(ReserveCell(d.delivery_id, m.attempt, d.locker_id, d.cell_size, spare[0]))
    else:
        m.update(tried_cells=tried)
        _signal(
            m,
            Phase.SIGNAL_CELL_FAILED,
            DropSignal.CELL_FAILED,
            f"cell_failed: no cell could be opened at {d.locker_id} ({e.reason})",
        )


def _on_signalled(m: _Machine, e: Signalled) -> None:
    d = m.d
    if e.attempt != d.attempts:
        return
    if d.phase == Phase.SIGNAL_OPENED and e.signal == DropSignal.CELL_OPENED:
        if e.ok:
            m.enter(
                State.AT_LOCKER, Phase.WAITING_DROP, "waiting for the drone to drop", m.cfg.drop_timeout
            )
        else:
            _retry_signal_or(m, lambda: _abandon_at_locker(m, f"drop_control_failed: {e.message}"))
    elif d.phase == Phase.SIGNAL_CELL_FAILED and e.signal == DropSignal.CELL_FAILED:
        if e.ok:
            _fail_after_cell_failed(m, cancel=False)
        else:
            _retry_signal_or(m, lambda: _fail_after_cell_failed(m, cancel=True))
    elif d.phase == Phase.SIGNAL_CONFIRM and e.signal in (
        DropSignal.DROP_CONFIRMED,
        DropSignal.DROP_UNCONFIRMED,
    ):
        if e.ok:
            _start_closing(m)
        else:
            _retry_signal_or(m, lambda: _start_closing(m))


def _on_occupied(m: _Machine, e: Occupied) -> None:
    d = m.d
    if d.phase in (Phase.CONFIRMING, Phase.WAITING_DROP):
        _signal(
            m,
            Phase.SIGNAL_CONFIRM,
            DropSignal.DROP_CONFIRMED,
            "drop confirmed by the locker",
            state=State.DROPPING,
            drop_confirmed=True,
            seen_progress=True,
        )


def _on_closed(m: _Machine, e: Closed) -> None:
    d = m.d
    if e.attempt != d.attempts or d.phase != Phase.CLOSING:
        return
    if e.ok:
        what = "parcel in" if d.drop_confirmed else "drop not confirmed; check"
        _awaiting_pickup(m, f"{what} {d.locker_id} cell {d.cell_id}")
    elif d.signal_tries < m.cfg.max_signal_tries:
        m.update(signal_tries=d.signal_tries + 1, deadline=m.now + m.cfg.action_timeout)
        m.close()
    else:
        _awaiting_pickup(m, f"close_failed: {e.message}")


def _on_pickup(m: _Machine, e: Pickup) -> None:
    if m.d.phase != Phase.AWAITING_PICKUP:
        return
    if e.success:
        detail = "" if e.message in ("", "picked up") else f": {e.message}"   # the locker's own words add nothing
        m.enter(State.COMPLETED, Phase.DONE, f"picked up{detail}", None)
    else:
        m.note(f"pickup attempt refused: {e.message}")


def _on_retry(m: _Machine, e: Retry) -> None:
    d = m.d
    if d.state != State.FAILED:
        return
    m.enter(
        State.QUEUED,
        Phase.QUEUED,
        f"retry: {e.reason}" if e.reason else "retry",
        m.cfg.queue_timeout,
        retry_base=d.attempts,
        queued_since=m.now,
        drone_id="",
        base_id="",
        cell_id=0,
        loaded=False,
        locker_id=d.requested_locker,
        tried_cells=(),
        signal_tries=0,
        drop_confirmed=False,
        eta=math.nan,
        seen_progress=False,
    )


HANDLERS: dict[type, Handler] = {
    Assigned: _on_assigned,
    Reserved: _on_reserved,
    ReserveFailed: _on_reserve_failed,
    Loaded: _on_loaded,
    GoalSent: _on_goal_sent,
    GoalSendFailed: _on_goal_send_failed,
    Progress: _on_progress,
    GoalDone: _on_goal_done,
    GoalLost: _on_goal_lost,
    DroneDown: _on_drone_down,
    Opened: _on_opened,
    OpenFailed: _on_open_failed,
    Signalled: _on_signalled,
    Occupied: _on_occupied,
    Closed: _on_closed,
    Pickup: _on_pickup,
    Cancel: _on_cancel,
    Retry: _on_retry,
    Timeout: _on_timeout,
}
# Events a terminal delivery still listens to: its drone's goal may outlive it, and FAILED may be retried.
TERMINAL_EVENTS = (GoalDone, GoalLost, Retry, GoalSent)


def step(delivery: Delivery, event: Event, now: float, cfg: LifecycleConfig) -> Step:
    """Apply one event. Never raises for an event that does not fit the phase: it is ignored."""
    if delivery.terminal and not isinstance(event, TERMINAL_EVENTS):
        return Step(delivery)
    if isinstance(event, Timeout) and (delivery.deadline <= 0 or now < delivery.deadline):
        return Step(delivery)
    machine = _Machine(delivery, now, cfg)
    HANDLERS[type(event)](machine, event)
    return machine.finish()


def resume(delivery: Delivery, now: float, cfg: LifecycleConfig) -> Step:
    """After a restart: redo the call the delivery was waiting for (every such call is idempotent)."""
    m = _Machine(delivery, now, cfg)
    d = delivery
    match d.phase:
        case Phase.RESERVING:
            m.do(ReserveCell(d.delivery_id, d.attempts, d.locker_id, d.cell_size))
        case Phase.RESERVING_ALT:
            m.do(ReserveCell(d.delivery_id, d.attempts, d.locker_id, d.cell_size, d.cell_id))
        case Phase.SENDING_GOAL:
            # The goal may have reached the drone before the crash, but its id was never stored: treat it as
            # sent; if the drone never started it, goal-lost detection re-queues it (goal_not_started).
            m.update(
                goal_active=True,
                goal_id="",
                goal_drone=d.drone_id,
                goal_sent_at=now,
                state=State.IN_FLIGHT,
                phase=Phase.FLYING,
                deadline=now + cfg.mission_timeout,
                reason="flying (re-attached after a fleet restart)",
            )
            m.step.transitions.append(m.d)
        case Phase.OPENING:
            m.do(OpenCell(d.delivery_id, d.attempts, d.locker_id, d.cell_id))
        case Phase.SIGNAL_OPENED:
            m.do(SendDropControl(d.delivery_id, d.attempts, d.drone_id, int(DropSignal.CELL_OPENED)))
        case Phase.SIGNAL_CELL_FAILED:
            m.do(SendDropControl(d.delivery_id, d.attempts, d.drone_id, int(DropSignal.CELL_FAILED)))
        case Phase.SIGNAL_CONFIRM:
            signal = DropSignal.DROP_CONFIRMED if d.drop_confirmed else DropSignal.DROP_UNCONFIRMED
            m.do(SendDropControl(d.delivery_id, d.attempts, d.drone_id, int(signal)))
        case Phase.CLOSING:
            m.close()
    return m.finish()
