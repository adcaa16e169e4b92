"""A scenario's figures from what it recorded: delivery status histories, drone samples, run facts. Pure (no ROS,
no plotting): the scenario runner feeds it, tests feed it synthetic histories, report_plots.py draws from it.

Definitions (sim seconds unless said otherwise):
- submitted: the order's submission time (the runner's; else the fleet's `created`, else its first status).
- delivery time: submitted → the parcel in its cell (first AWAITING_PICKUP).
- order to pickup: submitted → COMPLETED (includes the customer's delay).
- dispatch latency: submitted → first ASSIGNED, and submitted → first IN_FLIGHT.
- work window: the first submission → the last order leaving the fleet's hands (its parcel in a cell, or a terminal
  state without one). Deliveries per drone-hour and utilisation are over this window.
- utilisation: the fraction of the window a drone was on a mission (BUSY_STATES: preflight to landing; each sample
  holds until the drone's next one).
- cancelled by reason: the reason up to its first ';' (the fleet appends where the parcel stays).
- real-time factor: sim seconds per wall second over the whole run.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

TERMINAL = ("COMPLETED", "FAILED", "CANCELLED")
ACTIVE = ("ASSIGNED", "LOADING", "IN_FLIGHT", "AT_LOCKER", "DROPPING")
PHASES = ("queued", "active", "awaiting_pickup", "completed", "failed", "cancelled")
# a mission under way; IDLE, OFFLINE, the short COMPLETED / ABORTED, and EMERGENCY_LAND (down away from the base,
# waiting for staff) are not work
BUSY_STATES = ("PREFLIGHT", "TAKEOFF", "NAVIGATING", "APPROACH", "WAITING_DROP", "DROPPED", "RETURNING", "LANDING")


@dataclass(frozen=True)
class StatusEvent:
    delivery_id: str
    state: str                 # DeliveryStatus.state_name
    stamp: float               # sim s of the transition
    reason: str = ""
    drone_id: str = ""
    locker_id: str = ""
    attempts: int = 0
    created: float = math.nan  # the fleet's acceptance time, when known


@dataclass(frozen=True)
class DroneSample:
    stamp: float
    drone_id: str
    battery: float             # 0..1, NaN when unknown
    state: str                 # DroneState.mission_state_name (OFFLINE from the fleet)


@dataclass
class DeliveryRecord:
    delivery_id: str
    submitted: float = math.nan
    assigned: float = math.nan
    in_flight: float = math.nan
    delivered: float = math.nan         # first AWAITING_PICKUP
    final_state: str = "QUEUED"         # the latest state
    final_at: float = math.nan
    reason: str = ""                    # reason of the latest transition
    drone_id: str = ""
    locker_id: str = ""
    attempts: int = 0

    @property
    def terminal(self) -> bool:
        return self.final_state in TERMINAL

    @property
    def left_fleet(self) -> float:
        """When the fleet was done with it: the parcel in a cell, or a terminal state without one; NaN if neither."""
        if not math.isnan(self.delivered):
            return self.delivered
        return self.final_at if self.terminal else math.nan


def phase_of(state: str) -> str:
    if state in ACTIVE:
        return "active"
    if state == "AWAITING_PICKUP":
        return "awaiting_pickup"
    return state.lower() if state in TERMINAL else "queued"


def build_records(submitted: Mapping[str, float], events: Iterable[StatusEvent]) -> dict[str, DeliveryRecord]:
    """One record per delivery (submitted ones and any the fleet reported), from events in any order."""
    records = {d: DeliveryRecord(d, submitted=float(t)) for d, t in submitted.items()}
    for event in sorted(events, key=lambda e: e.stamp):
        record = records.setdefault(event.delivery_id, DeliveryRecord(event.delivery_id))
        if math.isnan(record.submitted):
            record.submitted = event.created if not math.isnan(event.created) else event.stamp
        if event.state == "ASSIGNED" and math.isnan(record.assigned):
            record.assigned = event.stamp
        elif event.state == "IN_FLIGHT" and math.isnan(record.in_flight):
            record.in_flight = event.stamp
        elif event.state == "AWAITING_PICKUP" and math.isnan(record.delivered):
            record.delivered = event.stamp
        record.final_state, record.final_at, record.reason = event.state, event.stamp, event.reason
        record.drone_id = event.drone_id or record.drone_id
        record.locker_id = event.locker_id or record.locker_id
        record.attempts = max(record.attempts, event.attempts)
    return records


def phase_counts(states: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(PHASES, 0)
    for state in states:
        counts[phase_of(state)] += 1
    return counts


def phase_series(events: Iterable[StatusEvent]) -> tuple[list[float], dict[str, list[int]]]:
    """Count of deliveries in each phase after every transition (a step function of sim time)."""
    latest: dict[str, str] = {}
    times: list[float] = []
    series: dict[str, list[int]] = {phase: [] for phase in PHASES}
    for event in sorted(events, key=lambda e: e.stamp):
        latest[event.delivery_id] = event.state
        counts = phase_counts(latest.values())
        times.append(event.stamp)
        for phase in PHASES:
            series[phase].append(counts[phase])
    return times, series


def reason_code(reason: str) -> str:
    """The fleet's reason code: the text before ':' ("drone_offline: link lost" → "drone_offline")."""
    return reason.split(":", 1)[0].strip() or "unknown"


def cancel_reason(reason: str) -> str:
    """'cancelled: scenario end: X; the parcel stays in locker_1 cell 2 ...' -> 'scenario end: X'."""
    text = reason.split(";", 1)[0].strip()
    return text.removeprefix("cancelled:").strip() or "unknown"


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (linear interpolation) of the finite values; NaN when there are none."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.percentile(finite, q)) if finite else math.nan


def work_window(records: Mapping[str, DeliveryRecord]) -> tuple[float, float]:
    starts = [r.submitted for r in records.values() if not math.isnan(r.submitted)]
    ends = [r.left_fleet for r in records.values() if not math.isnan(r.left_fleet)]
    if not starts:
        return math.nan, math.nan
    return min(starts), max(ends) if ends else min(starts)


def utilisation(samples: Iterable[DroneSample], drones: Sequence[str], start: float, end: float) -> dict[str, float]:
    """Busy fraction of [start, end] for each of `drones`; each sample's state holds until that drone's next sample (the
    last one until `end`); time before a drone's first sample counts as idle."""
    span = end - start
    by_drone: dict[str, list[DroneSample]] = {d: [] for d in drones}
    for sample in samples:
        if sample.drone_id in by_drone:
            by_drone[sample.drone_id].append(sample)
    result = {}
    for drone, own in by_drone.items():
        own.sort(key=lambda s: s.stamp)
        busy = 0.0
        for i, sample in enumerate(own):
            until = own[i + 1].stamp if i + 1 < len(own) else end
            lo, hi = max(sample.stamp, start), min(until, end)
            if hi > lo and sample.state in BUSY_STATES:
                busy += hi - lo
        result[drone] = busy / span if span > 0 else 0.0
    return result


@dataclass(frozen=True)
class RunInfo:
    name: str
    drones: tuple[str, ...]
    lockers: tuple[str, ...]
    orders: int
    rate_per_min: float
    speed: float                           # the sim speed asked for
    sim_seconds: float                     # sim time the run covered
    wall_seconds: float
    seed: int = 0
    faults: tuple[str, ...] = ()           # what was injected, as it happened
    notes: tuple[str, ...] = ()            # what the runner wants a reader to know (ended early, cancellations)


@dataclass(frozen=True)
class Headline:
    submitted: int
    delivered: int                         # parcel reached a cell
    completed: int
    failed: int
    cancelled: int
    not_terminal: int
    failed_by_reason: dict[str, int]
    cancelled_by_reason: dict[str, int]
    delivery_time_p50: float
    delivery_time_p95: float
    delivery_time_max: float
    order_to_pickup_p50: float
    dispatch_assigned_p50: float
    dispatch_assigned_p95: float
    dispatch_in_flight_p50: float
    dispatch_in_flight_p95: float
    window_seconds: float
    drone_hours: float
    deliveries_per_drone_hour: float
    utilisation: dict[str, float] = field(default_factory=dict)
    mean_utilisation: float = math.nan
    real_time_factor: float = math.nan


def headline(records: Mapping[str, DeliveryRecord], samples: Iterable[DroneSample], run: RunInfo) -> Headline:
    values = list(records.values())
    delivery = [r.delivered - r.submitted for r in values]
    to_pickup = [r.final_at - r.submitted for r in values if r.final_state == "COMPLETED"]
    assigned = [r.assigned - r.submitted for r in values]
    in_flight = [r.in_flight - r.submitted for r in values]
    start, end = work_window(records)
    window = max(0.0, end - start) if not math.isnan(start) else 0.0
    drone_hours = len(run.drones) * window / 3600.0
    delivered = sum(1 for r in values if not math.isnan(r.delivered))
    busy = utilisation(samples, run.drones, start, end) if window > 0 else dict.fromkeys(run.drones, 0.0)
    finite_delivery = [v for v in delivery if not math.isnan(v)]
    return Headline(
        submitted=len(values),
        delivered=delivered,
        completed=sum(1 for r in values if r.final_state == "COMPLETED"),
        failed=sum(1 for r in values if r.final_state == "FAILED"),
        cancelled=sum(1 for r in values if r.final_state == "CANCELLED"),
        not_terminal=sum(1 for r in values if not r.terminal),
        failed_by_reason=dict(Counter(reason_code(r.reason) for r in values if r.final_state == "FAILED")),
        cancelled_by_reason=dict(Counter(cancel_reason(r.reason) for r in values if r.final_state == "CANCELLED")),
        delivery_time_p50=percentile(delivery, 50),
        delivery_time_p95=percentile(delivery, 95),
        delivery_time_max=max(finite_delivery) if finite_delivery else math.nan,
        order_to_pickup_p50=percentile(to_pickup, 50),
        dispatch_assigned_p50=percentile(assigned, 50),
        dispatch_assigned_p95=percentile(assigned, 95),
        dispatch_in_flight_p50=percentile(in_flight, 50),
        dispatch_in_flight_p95=percentile(in_flight, 95),
        window_seconds=window,
        drone_hours=drone_hours,
        deliveries_per_drone_hour=delivered / drone_hours if drone_hours > 0 else math.nan,
        utilisation=busy,
        mean_utilisation=float(np.mean(list(busy.values()))) if busy else math.nan,
        real_time_factor=run.sim_seconds / run.wall_seconds if run.wall_seconds > 0 else math.nan,
    )


def _s(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} s"


def _reasons(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{reason} × {n}" for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))) \
        or "none"


def render_markdown(head: Headline, run: RunInfo, plots: Sequence[str] = ()) -> str:
    """report.md: the headline figures first, then per-drone utilisation, faults, notes and plots."""
    lines = [
        f"# Scenario {run.name}",
        "",
        f"{len(run.drones)} drones, {len(run.lockers)} lockers ({', '.join(run.lockers)}), {run.orders} orders "
        f"arriving at {run.rate_per_min:g}/min (Poisson, seed {run.seed}), sim speed asked {run.speed:g}×.",
        "",
        "## Headline",
        "",
        "| figure | value |",
        "|---|---|",
        f"| orders submitted | {head.submitted} |",
        f"| delivered into a locker | {head.delivered} |",
        f"| completed (picked up) | {head.completed} |",
        f"| failed | {head.failed} ({_reasons(head.failed_by_reason)}) |",
        f"| cancelled | {head.cancelled} ({_reasons(head.cancelled_by_reason)}) |",
        f"| not terminal at the end | {head.not_terminal} |",
        f"| delivery time (submit → in the cell) p50 / p95 / max | {_s(head.delivery_time_p50)} / "
        f"{_s(head.delivery_time_p95)} / {_s(head.delivery_time_max)} |",
        f"| order → pickup p50 | {_s(head.order_to_pickup_p50)} |",
        f"| dispatch latency submit → ASSIGNED p50 / p95 | {_s(head.dispatch_assigned_p50)} / "
        f"{_s(head.dispatch_assigned_p95)} |",
        f"| dispatch latency submit → IN_FLIGHT p50 / p95 | {_s(head.dispatch_in_flight_p50)} / "
        f"{_s(head.dispatch_in_flight_p95)} |",
        f"| deliveries per drone-hour | "
        f"{'n/a' if math.isnan(head.deliveries_per_drone_hour) else f'{head.deliveries_per_drone_hour:.1f}'} "
        f"({head.delivered} in {head.drone_hours:.2f} drone-hours, window {head.window_seconds:.0f} s) |",
        f"| mean drone utilisation | "
        f"{'n/a' if math.isnan(head.mean_utilisation) else f'{head.mean_utilisation:.0%}'} |",
        f"| sim time / wall time | {run.sim_seconds:.0f} s / {run.wall_seconds:.0f} s |",
        f"| real-time factor | "
        f"{'n/a' if math.isnan(head.real_time_factor) else f'{head.real_time_factor:.2f}×'} |",
        "",
        "Times are sim seconds. Delivery time ends when the parcel is in its cell; deliveries per drone-hour and "
        "utilisation are over the work window (first order → last parcel in a cell or last order ended).",
        "",
        "## Drones",
        "",
        "| drone | utilisation |",
        "|---|---|",
        *(f"| {drone} | {share:.0%} |" for drone, share in sorted(head.utilisation.items(), key=_natural)),
        "",
        "## Faults injected",
        "",
        *([f"- {fault}" for fault in run.faults] or ["none"]),
        "",
    ]
    if run.notes:
        lines += ["## Notes", "", *(f"- {note}" for note in run.notes), ""]
    if plots:
        lines += ["## Plots", "", *(f"![{name}]({name})" for name in plots), ""]
    return "\n".join(lines)


def _natural(item: tuple[str, float]) -> tuple[str, int]:
    """drone_2 before drone_10."""
    head, _, tail = item[0].rpartition("_")
    return (head, int(tail)) if tail.isdigit() else (item[0], 0)
