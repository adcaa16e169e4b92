"""The fleet manager's core: intake, dispatch rounds, and every delivery driven through its lifecycle.

No ROS here. The node feeds it what it hears (drone and locker states, action feedback and results,
pickups, results of the calls it made) and gives it an Effects object that carries out actions and publishes
transitions. All public methods take one lock, so ROS callback threads, timers and the AMQP thread may call
them freely; the effects must not block (the node queues the calls on worker threads).
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from skypost_fleet import lifecycle as lc
from skypost_fleet.assignment import ANY_LOCKER, SIZE_INDEX, EnergyModel, Plan, Policy, Problem, plan_round
from skypost_fleet.model import (
    CELL_SIZES,
    PRIORITY_HIGH,
    PRIORITY_NORMAL,
    Delivery,
    DeliveryRequest,
    InvalidRequestError,
    Mission,
    NotFoundError,
    Phase,
    State,
)
from skypost_fleet.registry import OCCUPANCY_OCCUPIED, DroneReport, LockerReport, Registry
from skypost_fleet.store import Store

MAX_ID_LENGTH = 128


class Effects(Protocol):
    def execute(self, actions: list[lc.Action], on_done: Callable[[], None] | None = None) -> None:
        """Carry out actions in order, without blocking (results come back through FleetCore.on_result);
        call `on_done` once they have run (whatever their outcome)."""

    def status(self, delivery: Delivery) -> None:
        """Publish one transition."""


@dataclass(frozen=True)
class FleetConfig:
    lifecycle: lc.LifecycleConfig = field(default_factory=lc.LifecycleConfig)
    energy: EnergyModel = field(default_factory=EnergyModel)
    policy: Policy = field(default_factory=Policy)
    goal_lost_grace: float = 10.0  # a drone idle without our delivery this long while we think it flies it


def validate(request: DeliveryRequest, known_lockers: Iterable[str]) -> DeliveryRequest:
    """Check a submission at the edge; raises InvalidRequestError with a message for the caller."""
    delivery_id = request.delivery_id.strip()
    if not delivery_id:
        raise InvalidRequestError("delivery_id is required")
    if len(delivery_id) > MAX_ID_LENGTH or any(c.isspace() for c in delivery_id):
        raise InvalidRequestError(f"delivery_id must be 1..{MAX_ID_LENGTH} characters without spaces")
    size = (request.cell_size or "S").strip().upper()
    if size not in CELL_SIZES:
        raise InvalidRequestError(
            f"cell_size must be one of {', '.join(CELL_SIZES)}, got {request.cell_size!r}"
        )
    if request.priority not in (PRIORITY_NORMAL, PRIORITY_HIGH):
        raise InvalidRequestError(
            f"priority must be {PRIORITY_NORMAL} or {PRIORITY_HIGH}, got {request.priority}"
        )
    weight = float(request.weight_kg)
    if math.isnan(weight) or weight < 0:
        raise InvalidRequestError(f"weight_kg must be >= 0, got {request.weight_kg}")
    locker = request.locker_id.strip()
    if locker and locker not in set(known_lockers):
        raise InvalidRequestError(f"unknown locker {locker!r}")
    return DeliveryRequest(
        delivery_id, request.order_ref.strip(), locker, size, int(request.priority), weight
    )


class FleetCore:
    def __init__(
        self,
        store: Store,
        registry: Registry,
        config: FleetConfig,
        clock: Callable[[], float],
        effects: Effects,
    ) -> None:
        self.store = store
        self.registry = registry
        self.cfg = config
        self.clock = clock
        self.effects = effects
        self.lock = threading.RLock()
        self.deliveries: dict[str, Delivery] = {}  # every delivery still open (or whose goal still runs)
        self.waiting: dict[str, str] = {}  # queued delivery -> why it is still queued
        self.goals: dict[str, str] = {}  # running goal id -> delivery id (feedback arrives often)
        self.paused = False
        self.pause_reason = ""
        self.out_of_service: dict[str, str] = {}
        self.started_at = 0.0
        self.last_plan = Plan()
        self.dirty = threading.Event()  # set when a dispatch round may assign something

    # ------------------------------------------------------------------------------------------- start-up
    def start(self) -> list[Delivery]:
        """Load the store, resume every open delivery. Returns the deliveries resumed."""
        with self.lock:
            now = self.clock()
            self.started_at = now
            self.registry.start_clock(now)
            self.paused = self.store.setting("paused", "0") == "1"
            self.pause_reason = self.store.setting("pause_reason", "")
            self.out_of_service = json.loads(self.store.setting("out_of_service", "{}"))
            for row_id, text in self.store.outbox():  # undo calls a crash interrupted: run them now
                self.effects.execute([lc.load_action(text)], on_done=self._outbox_done(row_id))
            resumed = self.store.load_open()
            for d in resumed:
                self.deliveries[d.delivery_id] = d
            for d in resumed:
                self._commit(d, lc.resume(d, now, self.cfg.lifecycle))
            self.dirty.set()
            return resumed

    # ------------------------------------------------------------------------------------------- intake
    def submit(self, request: DeliveryRequest) -> tuple[Delivery, bool]:
        """Accept a delivery durably (idempotent by id). Returns (delivery, duplicate)."""
        request = validate(request, self.registry.lockers)
        with self.lock:
            known = self.deliveries.get(request.delivery_id) or self.store.get(request.delivery_id)
            if known is not None:
                return self._view(known), True
            now = self.clock()
            d = Delivery.new(request, now, now + self.cfg.lifecycle.queue_timeout)
            self.store.save(d, [d])
            self.deliveries[d.delivery_id] = d
            self.effects.status(d)
            self.dirty.set()
            return d, False

    # ------------------------------------------------------------------------------------------- operators
    def cancel(self, delivery_id: str, reason: str) -> Delivery:
        with self.lock:
            d = self._require(delivery_id)
            if d.terminal:
                raise InvalidRequestError(f"{delivery_id} is already {d.state.name}")
            return self._apply(d, lc.Cancel(reason or "operator"))

    def retry(self, delivery_id: str, reason: str) -> Delivery:
        with self.lock:
            d = self._require(delivery_id)
            if d.state != State.FAILED:
                raise InvalidRequestError(
                    f"only a FAILED delivery can be retried; {delivery_id} is {d.state.name}"
                )
            self.deliveries[delivery_id] = d
            d = self._apply(d, lc.Retry(reason))
            self.dirty.set()
            return d

    def confirm_loaded(self, delivery_id: str) -> Delivery:
        with self.lock:
            d = self._require(delivery_id)
            if d.phase != Phase.LOADING:
                raise InvalidRequestError(
                    f"{delivery_id} is not waiting for loading (it is {d.state.name})"
                )
            return self._apply(d, lc.Loaded())

    def set_paused(self, paused: bool, reason: str) -> str:
        with self.lock:
            self.paused = paused
            self.pause_reason = reason if paused else ""
            self.store.set_setting("paused", "1" if paused else "0")
            self.store.set_setting("pause_reason", self.pause_reason)
            self.dirty.set()
            return f"dispatch {'paused' if paused else 'resumed'}" + (f": {reason}" if reason else "")

    def set_drone_in_service(self, drone_id: str, in_service: bool, reason: str) -> str:
        with self.lock:
            self._require_drone(drone_id)
            if in_service:
                self.out_of_service.pop(drone_id, None)
            else:
                self.out_of_service[drone_id] = reason or "operator"
            self.store.set_setting("out_of_service", json.dumps(self.out_of_service))
            message = f"{drone_id} {'in' if in_service else 'out of'} service"
            if not in_service:
                for d in list(self.deliveries.values()):
                    if d.drone_id == drone_id and d.phase in (Phase.RESERVING, Phase.LOADING):
                        self._apply(d, lc.DroneDown(f"taken out of service: {reason or 'operator'}"))
                    elif d.drone_id == drone_id and not d.terminal:
                        message += f"; it finishes {d.delivery_id} first"
            self.dirty.set()
            return message

    def recall_drone(self, drone_id: str, reason: str) -> str:
        with self.lock:
            self._require_drone(drone_id)
            reason = f"drone recalled: {reason}" if reason else "drone recalled"
            # Only a delivery whose parcel is still on (or about to be on) the drone is cancelled; one already
            # in its cell keeps waiting for pickup while the drone comes back anyway.
            before_drop = {Phase.RESERVING, Phase.LOADING, Phase.SENDING_GOAL} | lc.PRE_DROP_PHASES
            held = [
                d
                for d in self.deliveries.values()
                if d.phase in before_drop and drone_id in d.held_drones()
            ]
            for d in held:
                self._apply(d, lc.Cancel(reason))
            if held:
                return f"{drone_id} recalled; cancelled {', '.join(d.delivery_id for d in held)}"
            running = [d for d in self.deliveries.values() if d.goal_active and d.goal_drone == drone_id]
            if running or self.registry.mission_state(drone_id, self.clock()) not in (
                Mission.IDLE,
                Mission.OFFLINE,
            ):
                goal_id = running[0].goal_id if running else ""
                self.effects.execute([lc.CancelGoal("", drone_id, goal_id)])
                return f"{drone_id}: its goal was cancelled, it returns to base"
            return f"{drone_id} is not on a mission"

    # ------------------------------------------------------------------------------------------- queries
    def get(self, delivery_id: str) -> tuple[Delivery, list[Delivery]]:
        with self.lock:
            d = self._require(delivery_id)
            return self._view(d), self.store.history(delivery_id)

    def list(self, states: Iterable[int] = (), limit: int = 0) -> list[Delivery]:
        wanted = [State(s) for s in states]
        with self.lock:
            return [
                self._view(self.deliveries.get(d.delivery_id, d)) for d in self.store.list(wanted, limit)
            ]

    def counts(self) -> dict[State, int]:
        return self.store.count_by_state()

    def queue_depth(self) -> int:
        with self.lock:
            return sum(1 for d in self.deliveries.values() if d.state == State.QUEUED)

    def drone_availability(self) -> dict[str, str]:
        """Per drone: '' when it could take a delivery, else why not."""
        with self.lock:
            return self._drone_reasons(self.clock())

    # ------------------------------------------------------------------------------------------- inputs
    def on_drone_report(self, report: DroneReport) -> None:
        with self.lock:
            now = self.clock()
            was_usable = report.drone_id in self.registry.drones and not self.registry.unusable_reason(
                report.drone_id, now
            )
            self.registry.drone_seen(report, now)
            if report.delivery_id:
                d = self.deliveries.get(report.delivery_id)
                if d is not None and d.goal_active and d.goal_drone == report.drone_id:
                    self._apply(d, lc.Progress(report.mission_state))
            if (
                report.drone_id in self.registry.drones
                and not self.registry.unusable_reason(report.drone_id, now)
                and not was_usable
            ):
                self.dirty.set()

    def on_locker_report(self, report: LockerReport) -> None:
        with self.lock:
            self.registry.locker_seen(report, self.clock())
            for d in list(self.deliveries.values()):
                if d.locker_id == report.locker_id:
                    self._check_occupancy(d)
            self.dirty.set()

    def on_goal_feedback(self, drone_id: str, goal_id: str, mission_state: int, eta: float) -> None:
        with self.lock:
            d = self._by_goal(drone_id, goal_id)
            if d is not None:
                self._apply(d, lc.Progress(mission_state, eta))

    def on_goal_result(
        self, drone_id: str, goal_id: str, outcome: int, released: bool, message: str
    ) -> None:
        with self.lock:
            d = self._by_goal(drone_id, goal_id)
            if d is not None:
                self._apply(d, lc.GoalDone(d.goal_id, outcome, released, message))
                self.dirty.set()

    def on_pickup(
        self, locker_id: str, delivery_id: str, cell_id: int, success: bool, message: str
    ) -> None:
        with self.lock:
            d = self.deliveries.get(delivery_id) if delivery_id else None
            if d is None:
                d = next(
                    (
                        x
                        for x in self.deliveries.values()
                        if x.locker_id == locker_id
                        and x.cell_id == cell_id
                        and x.phase == Phase.AWAITING_PICKUP
                    ),
                    None,
                )
            if d is not None and d.locker_id == locker_id:
                self._apply(d, lc.Pickup(success, message))
                self.dirty.set()

    def on_result(self, delivery_id: str, event: lc.Event) -> None:
        """A call the runner made for a delivery has finished."""
        with self.lock:
            d = self.deliveries.get(delivery_id) or self.store.get(delivery_id)
            if d is None:
                return
            self.deliveries.setdefault(delivery_id, d)
            if isinstance(event, lc.OpenFailed) and not event.alternatives:
                free = self.registry.free_cells(d.locker_id).get(d.cell_size, [])
                event = replace(event, alternatives=tuple(c for c in free if c != d.cell_id))
            self._apply(d, event)
            if isinstance(event, lc.ReserveFailed | lc.GoalSendFailed):
                self.dirty.set()

    # ------------------------------------------------------------------------------------------- time
    def tick(self) -> None:
        """Deadlines, drones that went away, goals that vanished. Call periodically."""
        with self.lock:
            now = self.clock()
            for delivery_id in list(self.deliveries):
                d = self.deliveries.get(delivery_id)
                if d is not None and d.deadline > 0 and now >= d.deadline:
                    self._apply(d, lc.Timeout())
                if (d := self.deliveries.get(delivery_id)) is not None:
                    self._check_drone(d, now)
                if (d := self.deliveries.get(delivery_id)) is not None:
                    self._check_goal_lost(d, now)

    def _check_drone(self, d: Delivery, now: float) -> Delivery:
        if d.terminal or not d.drone_id or d.drone_id not in self.registry.drones:
            return d
        online = self.registry.online(d.drone_id, now)
        if d.phase in (Phase.RESERVING, Phase.LOADING):
            reason = self.registry.unusable_reason(d.drone_id, now)
            if d.drone_id in self.out_of_service:
                reason = "taken out of service"
            if reason:
                return self._apply(d, lc.DroneDown(reason))
        elif (d.phase == Phase.SENDING_GOAL or d.phase in lc.PRE_DROP_PHASES) and not online:
            return self._apply(d, lc.DroneDown(self.registry.unusable_reason(d.drone_id, now)))
        return d

    def _check_goal_lost(self, d: Delivery, now: float) -> None:
        if not d.goal_active or d.goal_drone not in self.registry.drones:
            return
        entry = self.registry.drones[d.goal_drone]
        if not self.registry.online(d.goal_drone, now):
            return
        since = max(entry.idle_since, d.goal_sent_at, self.started_at)
        if now - since > self.cfg.goal_lost_grace:
            self._apply(d, lc.GoalLost(d.goal_id))
            self.dirty.set()

    # ------------------------------------------------------------------------------------------- dispatch
    def run_round(self) -> Plan:
        """One assignment round over every queued delivery."""
        with self.lock:
            self.dirty.clear()
            now = self.clock()
            queued = sorted(
                (d for d in self.deliveries.values() if d.phase == Phase.QUEUED), key=lambda d: d.created
            )
            self.waiting = {k: v for k, v in self.waiting.items() if k in self.deliveries}
            if not queued:
                return Plan()
            if self.paused:
                for d in queued:
                    self.waiting[d.delivery_id] = "site paused" + (
                        f": {self.pause_reason}" if self.pause_reason else ""
                    )
                return Plan()
            for d in queued:  # the locker was dropped from ~lockers since the delivery was accepted
                if d.requested_locker and d.requested_locker not in self.registry.lockers:
                    self.waiting[d.delivery_id] = f"locker {d.requested_locker} is not managed by this fleet"
            queued = [d for d in queued if not d.requested_locker or d.requested_locker in self.registry.lockers]
            if not queued:
                return Plan()
            problem = self._problem(queued, now)
            plan = plan_round(problem, self.cfg.energy, self.cfg.policy)
            for j, reason in plan.waiting.items():
                self.waiting[queued[j].delivery_id] = reason
            for a in plan.assignments:
                d = queued[a.delivery]
                self.waiting.pop(d.delivery_id, None)
                drone_id = problem.drone_ids[a.drone]
                self._apply(
                    d,
                    lc.Assigned(
                        drone_id,
                        self.registry.drones[drone_id].base_id,
                        problem.locker_ids[a.locker],
                        a.eta,
                    ),
                )
            self.last_plan = plan
            return plan

    def _drone_reasons(self, now: float) -> dict[str, str]:
        held: dict[str, str] = {}
        for d in self.deliveries.values():
            for drone in d.held_drones():
                held[drone] = d.delivery_id
        reasons = {}
        for drone_id in self.registry.drones:
            if drone_id in self.out_of_service:
                reasons[drone_id] = f"out of service: {self.out_of_service[drone_id]}"
            elif drone_id in held:
                reasons[drone_id] = f"busy with {held[drone_id]}"
            else:
                reasons[drone_id] = self.registry.unusable_reason(drone_id, now)
        return reasons

    def _problem(self, queued: list[Delivery], now: float) -> Problem:
        reg = self.registry
        reasons = self._drone_reasons(now)
        usable = [drone for drone, why in reasons.items() if not why]
        locker_ids = list(reg.lockers)
        free = np.zeros((len(locker_ids), len(CELL_SIZES)), dtype=np.int64)
        online = np.zeros(len(locker_ids), dtype=bool)
        pending = {}
        for d in self.deliveries.values():
            if d.phase in (Phase.RESERVING, Phase.RESERVING_ALT):
                key = (d.locker_id, d.cell_size)
                pending[key] = pending.get(key, 0) + 1
        for i, locker_id in enumerate(locker_ids):
            online[i] = not reg.locker_unusable_reason(locker_id)
            for size, cells in reg.free_cells(locker_id).items():
                free[i, SIZE_INDEX[size]] = max(0, len(cells) - pending.get((locker_id, size), 0))
        index = {locker_id: i for i, locker_id in enumerate(locker_ids)}
        if usable:
            no_drone = "no drone available"
        else:
            summary = "; ".join(f"{k}: {v}" for k, v in sorted(reasons.items())) or "no drones configured"
            no_drone = f"no drone available ({summary})"
        return Problem(
            drone_ids=usable,
            drone_xy=np.array([reg.position(x) for x in usable], dtype=float).reshape(-1, 2),
            base_xy=np.array([reg.drones[x].base_xy for x in usable], dtype=float).reshape(-1, 2),
            battery=np.array([reg.battery(x) for x in usable], dtype=float),
            locker_ids=locker_ids,
            locker_xy=np.array([reg.lockers[x].xy for x in locker_ids], dtype=float).reshape(-1, 2),
            locker_online=online,
            free_cells=free,
            delivery_ids=[d.delivery_id for d in queued],
            delivery_locker=np.array(
                [
                    index.get(d.requested_locker, ANY_LOCKER) if d.requested_locker else ANY_LOCKER
                    for d in queued
                ],
                dtype=np.int64,
            ),
            delivery_size=np.array([SIZE_INDEX[d.cell_size] for d in queued], dtype=np.int64),
            priority=np.array([d.priority for d in queued], dtype=np.int64),
            wait=np.array([max(0.0, now - d.queued_since) for d in queued], dtype=float),
            weight=np.array([d.weight_kg for d in queued], dtype=float),
            no_drone_reason=no_drone,
            locker_reasons=[reg.locker_unusable_reason(x) for x in locker_ids],
        )

    # ------------------------------------------------------------------------------------------- internals
    def _require(self, delivery_id: str) -> Delivery:
        d = self.deliveries.get(delivery_id) or self.store.get(delivery_id)
        if d is None:
            raise NotFoundError(f"unknown delivery {delivery_id!r}")
        return d

    def _require_drone(self, drone_id: str) -> None:
        if drone_id not in self.registry.drones:
            raise NotFoundError(f"unknown drone {drone_id!r}")

    def _view(self, d: Delivery) -> Delivery:
        """The record as callers see it: a queued delivery shows why it still waits."""
        if d.state == State.QUEUED and d.delivery_id in self.waiting:
            return replace(d, reason=self.waiting[d.delivery_id])
        return d

    def _by_goal(self, drone_id: str, goal_id: str) -> Delivery | None:
        exact = self.deliveries.get(self.goals.get(goal_id, ""))
        if exact is not None and exact.goal_active and exact.goal_drone == drone_id:
            return exact
        # A goal re-attached after a restart before its id was stored: adopt the first id the drone reports.
        unknown = [
            d
            for d in self.deliveries.values()
            if d.goal_active and d.goal_drone == drone_id and not d.goal_id
        ]
        if len(unknown) == 1 and goal_id:
            d = replace(unknown[0], goal_id=goal_id)
            self.deliveries[d.delivery_id] = d
            self.goals[goal_id] = d.delivery_id
            self.store.save(d)
            return d
        return None

    def _apply(self, d: Delivery, event: lc.Event) -> Delivery:
        current = self.deliveries.get(d.delivery_id, d)
        result = lc.step(current, event, self.clock(), self.cfg.lifecycle)
        return self._commit(current, result)

    def _commit(self, before: Delivery, result: lc.Step) -> Delivery:
        after = result.delivery
        if (
            result.transitions
            or result.actions
            or after.goal_active != before.goal_active
            or after.seen_progress != before.seen_progress
            or after.goal_id != before.goal_id
        ):
            undo = [lc.dump_action(a) for a in result.actions if isinstance(a, lc.UNDO_ACTIONS)]
            outbox = iter(self.store.save(after, result.transitions, undo))
        if before.goal_id and (before.goal_id != after.goal_id or not after.goal_active):
            self.goals.pop(before.goal_id, None)
        if after.goal_active and after.goal_id:
            self.goals[after.goal_id] = after.delivery_id
        if after.terminal and not after.goal_active:
            self.deliveries.pop(after.delivery_id, None)
            self.waiting.pop(after.delivery_id, None)
        else:
            self.deliveries[after.delivery_id] = after
        for t in result.transitions:
            self.effects.status(t)
        for action in result.actions:  # one by one, in order; undo calls leave the outbox once they ran
            done = self._outbox_done(next(outbox)) if isinstance(action, lc.UNDO_ACTIONS) else None
            self.effects.execute([action], on_done=done)
        if after.state == State.QUEUED and before.state != State.QUEUED:
            self.dirty.set()
        if after.phase in (Phase.CONFIRMING, Phase.WAITING_DROP) and after is not before:
            after = self._check_occupancy(after)
        return after

    def _outbox_done(self, row_id: int) -> Callable[[], None]:
        return lambda: self.store.outbox_done(row_id)

    def _check_occupancy(self, d: Delivery) -> Delivery:
        if d.phase not in (Phase.CONFIRMING, Phase.WAITING_DROP):
            return d
        cell = self.registry.cell(d.locker_id, d.cell_id)
        if cell is not None and cell.occupancy == OCCUPANCY_OCCUPIED:
            return self._apply(d, lc.Occupied())
        return d
