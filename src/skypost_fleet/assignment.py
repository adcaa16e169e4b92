"""One assignment round: which idle drone takes which queued delivery (pure, numpy + scipy, no ROS).

A round, in order:
1. Feasibility. A drone must be usable (the caller filters idle / healthy / in service) and have a known
   battery with enough energy for drone -> locker -> its base plus a reserve (EnergyModel); a delivery must
   weigh no more than the payload limit and go to an online locker with a free cell of its size.
2. Urgency. A delivery's effective wait is its wait plus `priority_boost` seconds if it is high priority; its
   urgency class is effective wait // `aging_step`. High priority goes first, and aging lifts every waiting
   delivery one class per `aging_step`, so nothing starves behind a stream of newer or nearer deliveries.
3. Locker capacity. Each locker's free cells of a size go to that (locker, size) queue in urgency order; a
   delivery with no locker of its own gets the reachable locker with a free cell nearest to an idle drone.
4. Matching. Classes are served from the most urgent down. In each class the drones still free are matched to
   the class's candidates by the Hungarian method (scipy.optimize.linear_sum_assignment on the rectangular
   drones x deliveries matrix of times to the locker; infeasible pairs carry a cost larger than any feasible
   matching and are filtered out afterwards). The result is a maximum-cardinality, minimum-total-time matching
   per class.
Every delivery left waiting gets a reason a person can read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from skypost_fleet.model import CELL_SIZES

SIZE_INDEX = {size: i for i, size in enumerate(CELL_SIZES)}
ANY_LOCKER = -1
Matcher = Callable[[np.ndarray, np.ndarray], list[tuple[int, int]]]


@dataclass(frozen=True)
class EnergyModel:
    """Flight time and battery use, kept simple: straight lines at cruise speed plus a fixed overhead."""

    cruise_speed: float = 3.0  # m/s (the drone node's default cruise speed)
    overhead_s: float = 60.0  # take-off, marker approach, drop and landing
    drain_per_s: float = 1.0 / 900.0  # battery fraction used per second of flight (15 min on a full pack)
    payload_drain_per_kg: float = 0.15  # relative extra drain per kg carried
    reserve: float = 0.25  # battery fraction that must be left on landing
    max_payload_kg: float = 1.0


@dataclass(frozen=True)
class Policy:
    aging_step: float = 300.0  # seconds of waiting per urgency class
    priority_boost: float = 900.0  # seconds of waiting a high-priority delivery is credited with


@dataclass
class Problem:
    """A round's input as arrays. Drones are the usable ones only (idle, healthy, in service)."""

    drone_ids: Sequence[str]
    drone_xy: np.ndarray  # (n, 2) where the drone is now
    base_xy: np.ndarray  # (n, 2) where it must land afterwards
    battery: np.ndarray  # (n,) fraction 0..1, NaN when unknown
    locker_ids: Sequence[str]
    locker_xy: np.ndarray  # (L, 2)
    locker_online: np.ndarray  # (L,) bool
    free_cells: np.ndarray  # (L, 3) free cells per size S, M, L (already net of pending reservations)
    delivery_ids: Sequence[str]
    delivery_locker: np.ndarray  # (m,) locker index, ANY_LOCKER when the fleet picks
    delivery_size: np.ndarray  # (m,) size index
    priority: np.ndarray  # (m,) 0 normal, 1 high
    wait: np.ndarray  # (m,) seconds since accepted
    weight: np.ndarray  # (m,) kg
    no_drone_reason: str = "no drone available"
    locker_reasons: Sequence[str] = ()  # why a locker is not online, by locker index (optional)


@dataclass(frozen=True)
class Assignment:
    delivery: int  # index into Problem.delivery_ids
    drone: int  # index into Problem.drone_ids
    locker: int  # index into Problem.locker_ids
    eta: float  # seconds from now to arrival over the locker


@dataclass
class Plan:
    assignments: list[Assignment] = field(default_factory=list)
    waiting: dict[int, str] = field(default_factory=dict)  # delivery index -> why it stays queued
    cost: float = 0.0  # total eta of the assignments
    classes: int = 0


def urgency(problem: Problem, policy: Policy) -> tuple[np.ndarray, np.ndarray]:
    """(effective wait, urgency class) per delivery."""
    effective = problem.wait + policy.priority_boost * (problem.priority > 0)
    classes = np.floor_divide(effective, max(policy.aging_step, 1e-9)).astype(np.int64)
    return effective, classes


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) Euclidean distances of 2-D points."""
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


class _Round:
    """Shared precomputation for one round: drone x locker geometry and the energy model."""

    def __init__(self, problem: Problem, model: EnergyModel) -> None:
        self.p = problem
        self.model = model
        self.out = _distances(problem.drone_xy, problem.locker_xy)  # drone -> locker
        self.back = _distances(problem.base_xy, problem.locker_xy)  # locker -> drone's base
        self.time_to_locker = self.out / model.cruise_speed + model.overhead_s / 2
        round_trip_s = (self.out + self.back) / model.cruise_speed + model.overhead_s
        self.energy_trip = round_trip_s * model.drain_per_s  # (n, L) without payload
        self.budget = np.where(np.isnan(problem.battery), -np.inf, problem.battery - model.reserve)
        # max over drones of budget / trip energy: a payload factor up to this is feasible for someone
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = self.budget[:, None] / np.maximum(self.energy_trip, 1e-12)
        self.best_ratio = (
            ratio.max(axis=0) if len(problem.drone_ids) else np.full(self.out.shape[1], -np.inf)
        )

    def feasible(self, drones: np.ndarray, lockers: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """(len(drones), len(lockers)) bool: enough battery for the trip with that payload."""
        need = self.energy_trip[np.ix_(drones, lockers)] * (1.0 + self.model.payload_drain_per_kg * weights)
        return need <= self.budget[drones, None]

    def feasible_for_any(self, lockers: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per delivery: does any drone of the round (free or not) have the energy for it?"""
        if len(self.p.drone_ids) == 0:
            return np.zeros(len(lockers), dtype=bool)
        return 1.0 + self.model.payload_drain_per_kg * weights <= self.best_ratio[lockers]

    def cost(self, drones: np.ndarray, lockers: np.ndarray) -> np.ndarray:
        return self.time_to_locker[np.ix_(drones, lockers)]


def _select_candidates(
    problem: Problem, r: _Round, order: np.ndarray, plan: Plan
) -> tuple[np.ndarray, np.ndarray]:
    """Give free cells to deliveries in urgency order. Returns (candidate delivery indices, their lockers).

    Deliveries to a named locker are served first (vectorised rank inside each (locker, size) queue); the
    cells left over go to deliveries without a locker: the online locker with a free cell of their size that
    is nearest to an idle drone."""
    p = problem
    free = p.free_cells.astype(np.int64).copy()
    free[~p.locker_online.astype(bool)] = 0
    fixed = order[p.delivery_locker[order] != ANY_LOCKER]
    key = p.delivery_locker[fixed] * len(CELL_SIZES) + p.delivery_size[fixed]
    sort = np.argsort(key, kind="stable")  # stable: urgency order kept inside each key
    sorted_key = key[sort]
    starts = (
        np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1] if len(fixed) else np.zeros(0, dtype=np.int64)
    )
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(sorted_key)]))
    rank = np.empty(len(fixed), dtype=np.int64)
    rank[sort] = np.arange(len(fixed)) - group_start
    capacity = free[p.delivery_locker[fixed], p.delivery_size[fixed]]
    keep = rank < capacity
    np.subtract.at(free, (p.delivery_locker[fixed[keep]], p.delivery_size[fixed[keep]]), 1)
    for j, rk, cap in zip(fixed[~keep], rank[~keep], capacity[~keep], strict=True):
        lk, size = p.delivery_locker[j], p.delivery_size[j]
        locker = p.locker_ids[lk]
        if not p.locker_online[lk]:
            known = lk < len(p.locker_reasons) and p.locker_reasons[lk]
            plan.waiting[int(j)] = p.locker_reasons[lk] if known else f"locker {locker} is not online"
        elif cap <= 0:
            plan.waiting[int(j)] = f"no free {CELL_SIZES[size]} cell at {locker}"
        else:
            plan.waiting[int(j)] = (
                f"waiting for a free {CELL_SIZES[size]} cell at {locker} "
                f"({int(rk)} more urgent deliveries first)"
            )
    candidates = [fixed[keep]]
    lockers = [p.delivery_locker[fixed[keep]]]
    floating = order[p.delivery_locker[order] == ANY_LOCKER]
    if len(floating):
        nearest = r.out.min(axis=0) if len(p.drone_ids) else np.zeros(len(p.locker_ids))
        by_distance = np.argsort(nearest, kind="stable")
        picked, picked_lockers = [], []
        for j in floating:
            size = p.delivery_size[j]
            choice = next((int(lk) for lk in by_distance if free[lk, size] > 0), ANY_LOCKER)
            if choice == ANY_LOCKER:
                plan.waiting[int(j)] = f"no online locker has a free {CELL_SIZES[size]} cell"
                continue
            free[choice, size] -= 1
            picked.append(int(j))
            picked_lockers.append(choice)
        candidates.append(np.array(picked, dtype=np.int64))
        lockers.append(np.array(picked_lockers, dtype=np.int64))
    return np.concatenate(candidates).astype(np.int64), np.concatenate(lockers).astype(np.int64)


def _infeasible_reason(problem: Problem, r: _Round, j: int, locker: int) -> str:
    p = problem
    if len(p.drone_ids) == 0:
        return p.no_drone_reason
    known = ~np.isnan(p.battery)
    if not known.any():
        return "no drone with a known battery level (battery unknown is never taken as full)"
    need = r.energy_trip[:, locker] * (1.0 + r.model.payload_drain_per_kg * p.weight[j]) + r.model.reserve
    best = int(np.argmin(np.where(known, need - p.battery, np.inf)))
    return (
        f"no drone has enough battery for {p.locker_ids[locker]} and back (needs {need[best]:.0%} incl. "
        f"{r.model.reserve:.0%} reserve, best {p.drone_ids[best]} has {p.battery[best]:.0%})"
    )


def plan_round(problem: Problem, model: EnergyModel, policy: Policy, matcher: Matcher | None = None) -> Plan:
    """Assign usable drones to queued deliveries for this round. `matcher` replaces the Hungarian solver
    (the benchmark checks the result against a second exact algorithm this way)."""
    matcher = matcher or hungarian_match
    p = problem
    plan = Plan()
    m = len(p.delivery_ids)
    if m == 0:
        return plan
    r = _Round(p, model)
    effective, classes = urgency(p, policy)
    order = np.lexsort((-effective, -classes))  # most urgent first
    heavy = p.weight > model.max_payload_kg
    for j in np.flatnonzero(heavy):
        plan.waiting[int(j)] = (
            f"weight {p.weight[j]:.2f} kg is above the {model.max_payload_kg:.2f} kg payload limit"
        )
    order = order[~heavy[order]]
    candidates, cand_lockers = _select_candidates(p, r, order, plan)
    free_drones = np.ones(len(p.drone_ids), dtype=bool)
    cand_classes = classes[candidates]
    for klass in np.unique(cand_classes)[::-1]:
        in_class = cand_classes == klass
        cols, col_lockers = candidates[in_class], cand_lockers[in_class]
        rows = np.flatnonzero(free_drones)
        plan.classes += 1
        if len(rows) == 0:
            for j in cols:
                plan.waiting[int(j)] = (
                    p.no_drone_reason
                    if len(p.drone_ids) == 0
                    else "waiting for a drone (all idle drones are taken by more urgent deliveries)"
                )
            continue
        feasible = r.feasible(rows, col_lockers, p.weight[cols])
        matched = matcher(feasible, r.cost(rows, col_lockers))
        taken = set()
        for ri, ci in matched:
            drone, j = int(rows[ri]), int(cols[ci])
            eta = float(r.time_to_locker[drone, col_lockers[ci]])
            plan.assignments.append(Assignment(j, drone, int(col_lockers[ci]), eta))
            plan.cost += eta
            free_drones[drone] = False
            taken.add(ci)
        someone_can = r.feasible_for_any(col_lockers, p.weight[cols])
        for ci, j in enumerate(cols):
            if ci in taken:
                continue
            plan.waiting[int(j)] = (
                "waiting for a drone (the suitable drones are taken this round)"
                if someone_can[ci]
                else _infeasible_reason(p, r, int(j), col_lockers[ci])
            )
    return plan


def forbidden_cost(feasible: np.ndarray, cost: np.ndarray) -> float:
    """A cost for forbidden pairs larger than any matching made only of allowed pairs, so a solver never
    trades an allowed pair away for it."""
    return (float(cost[feasible].max()) + 1.0) * (min(feasible.shape) + 1)


def hungarian_match(feasible: np.ndarray, cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost maximum-cardinality matching of a rectangular matrix with forbidden pairs."""
    rows = np.flatnonzero(feasible.any(axis=1))
    cols = np.flatnonzero(feasible.any(axis=0))
    if len(rows) == 0 or len(cols) == 0:
        return []
    sub_feasible = feasible[np.ix_(rows, cols)]
    sub_cost = cost[np.ix_(rows, cols)]
    matrix = np.where(sub_feasible, sub_cost, forbidden_cost(sub_feasible, sub_cost))
    r_ind, c_ind = linear_sum_assignment(matrix)
    ok = sub_feasible[r_ind, c_ind]
    return [(int(rows[a]), int(cols[b])) for a, b in zip(r_ind[ok], c_ind[ok], strict=True)]


def greedy_round(problem: Problem, model: EnergyModel, policy: Policy) -> Plan:
    """Baseline for the benchmark: same feasibility, capacity and urgency classes, but each delivery in
    urgency order simply takes the fastest free feasible drone (a first-come first-served dispatcher)."""
    p = problem
    plan = Plan()
    if len(p.delivery_ids) == 0:
        return plan
    r = _Round(p, model)
    effective, classes = urgency(p, policy)
    order = np.lexsort((-effective, -classes))
    order = order[p.weight[order] <= model.max_payload_kg]
    candidates, cand_lockers = _select_candidates(p, r, order, Plan())
    free = np.ones(len(p.drone_ids), dtype=bool)
    all_drones = np.arange(len(p.drone_ids))
    for j, locker in zip(candidates, cand_lockers, strict=True):
        if not free.any():
            break
        ok = r.feasible(all_drones, np.array([locker]), p.weight[[j]])[:, 0] & free
        if not ok.any():
            continue
        times = np.where(ok, r.time_to_locker[:, locker], np.inf)
        drone = int(np.argmin(times))
        plan.assignments.append(Assignment(int(j), drone, int(locker), float(times[drone])))
        plan.cost += float(times[drone])
        free[drone] = False
    return plan
