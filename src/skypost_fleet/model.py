"""The fleet's vocabulary without ROS: delivery states, drone mission states, outcomes, the delivery record.

The numeric values mirror the constants of skypost/DeliveryStatus, DroneState, Deliver and DropControl so that
the node converts by value; tests/unit/test_fleet_model.py checks that they agree with the generated messages.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from enum import IntEnum, StrEnum
from typing import Any

CELL_SIZES = ("S", "M", "L")


class State(IntEnum):
    QUEUED = 0
    ASSIGNED = 1
    LOADING = 2
    IN_FLIGHT = 3
    AT_LOCKER = 4
    DROPPING = 5
    AWAITING_PICKUP = 6
    COMPLETED = 7
    FAILED = 8
    CANCELLED = 9


TERMINAL = frozenset({State.COMPLETED, State.FAILED, State.CANCELLED})
PRIORITY_NORMAL = 0
PRIORITY_HIGH = 1


class Mission(IntEnum):
    """DroneState mission states."""

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
    OFFLINE = 12


class Outcome(IntEnum):
    """Deliver action result outcomes."""

    DELIVERED = 0
    DELIVERED_UNCONFIRMED = 1
    RETURNED_WITH_PARCEL = 2
    ABORTED = 3
    CANCELLED = 4
    EMERGENCY_LANDED = 5


class DropSignal(IntEnum):
    """DropControl events (fleet -> drone)."""

    CELL_OPENED = 1
    DROP_CONFIRMED = 2
    DROP_UNCONFIRMED = 3
    CELL_FAILED = 4


class Phase(StrEnum):
    """What a delivery is waiting for inside its public state (persisted, so a restart resumes it)."""

    QUEUED = "queued"
    RESERVING = "reserving"  # ASSIGNED: reserve_cell in progress
    LOADING = "loading"  # LOADING: waiting for /fleet/confirm_loaded
    SENDING_GOAL = "sending_goal"  # LOADING: parcel loaded, Deliver goal being sent
    FLYING = "flying"  # IN_FLIGHT
    OPENING = "opening"  # AT_LOCKER: open_cell in progress
    RESERVING_ALT = "reserving_alt"  # AT_LOCKER: the cell did not open, reserving another one
    SIGNAL_OPENED = "signal_opened"  # AT_LOCKER: drop_control(CELL_OPENED) in progress
    WAITING_DROP = "waiting_drop"  # AT_LOCKER: waiting for the drone to report DROPPED
    SIGNAL_CELL_FAILED = "signal_cell_failed"  # AT_LOCKER: drop_control(CELL_FAILED) in progress
    CONFIRMING = "confirming"  # DROPPING: waiting for the cell's occupancy sensor
    SIGNAL_CONFIRM = (
        "signal_confirm"  # DROPPING: drop_control(DROP_CONFIRMED / DROP_UNCONFIRMED) in progress
    )
    CLOSING = "closing"  # DROPPING: close_cell in progress
    AWAITING_PICKUP = "awaiting_pickup"
    DONE = "done"  # terminal


class FleetError(Exception):
    """A request the fleet refuses; the message is meant for the caller."""


class NotFoundError(FleetError):
    pass


class InvalidRequestError(FleetError):
    pass


@dataclass(frozen=True)
class DeliveryRequest:
    """A validated submission (from /fleet/submit_delivery or the AMQP queue)."""

    delivery_id: str
    order_ref: str = ""
    locker_id: str = ""  # empty: the fleet picks one
    cell_size: str = "S"
    priority: int = PRIORITY_NORMAL
    weight_kg: float = 0.0


@dataclass(frozen=True)
class Delivery:
    """One delivery as the fleet stores it. Times are ROS time in seconds."""

    delivery_id: str
    order_ref: str
    requested_locker: str
    cell_size: str
    priority: int
    weight_kg: float
    created: float
    updated: float
    queued_since: float  # for aging: when it was accepted (or retried by an operator)
    state: State = State.QUEUED
    phase: Phase = Phase.QUEUED
    reason: str = ""
    deadline: float = 0.0  # 0: nothing to wait for
    locker_id: str = ""
    drone_id: str = ""
    base_id: str = ""
    cell_id: int = 0
    attempts: int = 0
    retry_base: int = 0  # attempts already used when an operator last retried
    loaded: bool = False
    goal_id: str = ""
    goal_drone: str = ""  # the drone running goal_id (kept when a re-queue clears drone_id)
    goal_active: bool = False  # the drone still runs our Deliver goal (may outlive a terminal state)
    goal_sent_at: float = 0.0
    seen_progress: bool = False  # the drone reported working on this delivery at least once
    tried_cells: tuple[int, ...] = ()
    signal_tries: int = 0
    drop_confirmed: bool = False
    eta: float = math.nan
    dispatch_latency: float = math.nan  # accepted -> goal sent, seconds (first attempt that flew)

    @classmethod
    def new(cls, request: DeliveryRequest, now: float, queue_deadline: float) -> Delivery:
        return cls(
            delivery_id=request.delivery_id,
            order_ref=request.order_ref,
            requested_locker=request.locker_id,
            cell_size=request.cell_size,
            priority=request.priority,
            weight_kg=request.weight_kg,
            created=now,
            updated=now,
            queued_since=now,
            locker_id=request.locker_id,
            reason="accepted",
            deadline=queue_deadline,
        )

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    def held_drones(self) -> set[str]:
        """Drones that may not be given another delivery because of this one."""
        held = {self.goal_drone} if self.goal_active and self.goal_drone else set()
        if self.state in (State.ASSIGNED, State.LOADING) and self.drone_id:
            held.add(self.drone_id)
        return held

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = int(self.state)
        data["phase"] = self.phase.value
        data["tried_cells"] = list(self.tried_cells)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Delivery:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["state"] = State(values["state"])
        values["phase"] = Phase(values["phase"])
        values["tried_cells"] = tuple(values.get("tried_cells", ()))
        return cls(**values)
