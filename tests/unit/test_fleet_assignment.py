"""Assignment rounds: feasibility edge cases, priority, aging, capacity, optimality against brute force."""

import itertools
import math

import numpy as np
import pytest

from skypost_fleet.assignment import ANY_LOCKER, EnergyModel, Policy, Problem, greedy_round, plan_round

pytestmark = pytest.mark.unit
MODEL = EnergyModel(
    cruise_speed=1.0,
    overhead_s=60.0,
    drain_per_s=1 / 900,
    payload_drain_per_kg=0.15,
    reserve=0.25,
    max_payload_kg=1.0,
)
POLICY = Policy(aging_step=300.0, priority_boost=900.0)


def problem(drones, lockers, deliveries, free=None):
    """drones: [(x, y, battery)], lockers: [(x, y, online)], deliveries: [(locker, size, prio, wait, kg)]."""
    n, m = len(drones), len(deliveries)
    return Problem(
        drone_ids=[f"drone_{i}" for i in range(n)],
        drone_xy=np.array([d[:2] for d in drones], dtype=float).reshape(-1, 2),
        base_xy=np.array([d[:2] for d in drones], dtype=float).reshape(-1, 2),
        battery=np.array([d[2] for d in drones], dtype=float),
        locker_ids=[f"locker_{i}" for i in range(len(lockers))],
        locker_xy=np.array([lk[:2] for lk in lockers], dtype=float).reshape(-1, 2),
        locker_online=np.array([lk[2] for lk in lockers], dtype=bool),
        free_cells=np.array(free if free is not None else [[9, 9, 9]] * len(lockers), dtype=np.int64),
        delivery_ids=[f"d{j}" for j in range(m)],
        delivery_locker=np.array([x[0] for x in deliveries], dtype=np.int64),
        delivery_size=np.array([x[1] for x in deliveries], dtype=np.int64),
        priority=np.array([x[2] for x in deliveries], dtype=np.int64),
        wait=np.array([x[3] for x in deliveries], dtype=float),
        weight=np.array([x[4] for x in deliveries], dtype=float),
    )


def assigned(plan):
    return {a.delivery: a.drone for a in plan.assignments}


def test_battery_unknown_is_never_feasible_and_says_why():
    plan = plan_round(problem([(0, 0, math.nan)], [(10, 0, True)], [(0, 0, 0, 0, 0.1)]), MODEL, POLICY)
    assert plan.assignments == []
    assert "battery" in plan.waiting[0] and "unknown" in plan.waiting[0]


def test_energy_for_the_round_trip_plus_reserve():
    # 200 m out, 200 m back at 1 m/s + 60 s overhead = 460 s -> 0.511 of a pack (+ payload); reserve 0.25
    far = [(0, 0, True), (200, 0, True)]
    enough = plan_round(problem([(0, 0, 0.90)], far, [(1, 0, 0, 0, 0.0)]), MODEL, POLICY)
    short = plan_round(problem([(0, 0, 0.70)], far, [(1, 0, 0, 0, 0.0)]), MODEL, POLICY)
    assert assigned(enough) == {0: 0}
    assert short.assignments == [] and "enough battery" in short.waiting[0]
    heavy = plan_round(problem([(0, 0, 0.80)], far, [(1, 0, 0, 0, 0.9)]), MODEL, POLICY)
    assert heavy.assignments == []  # the payload raises the need above the battery


def test_overweight_parcel_waits_with_reason():
    plan = plan_round(problem([(0, 0, 1.0)], [(10, 0, True)], [(0, 0, 0, 0, 1.5)]), MODEL, POLICY)
    assert plan.assignments == [] and "payload limit" in plan.waiting[0]


def test_offline_locker_and_missing_cell_size():
    free = [[0, 3, 0], [5, 5, 5]]
    p = problem(
        [(0, 0, 1.0)] * 3,
        [(10, 0, True), (20, 0, False)],
        [(0, 0, 0, 0, 0), (0, 1, 0, 0, 0), (1, 0, 0, 0, 0)],
        free,
    )
    plan = plan_round(p, MODEL, POLICY)
    assert set(assigned(plan)) == {1}
    assert "no free S cell at locker_0" in plan.waiting[0]
    assert "not online" in plan.waiting[2]


def test_locker_capacity_goes_to_the_most_urgent_first():
    p = problem(
        [(0, 0, 1.0)] * 3,
        [(10, 0, True)],
        [(0, 0, 0, 10, 0), (0, 0, 0, 500, 0), (0, 0, 1, 0, 0)],
        [[2, 0, 0]],
    )
    plan = plan_round(p, MODEL, POLICY)
    assert set(assigned(plan)) == {1, 2}
    assert "waiting for a free S cell" in plan.waiting[0]


def test_no_drone_at_all():
    plan = plan_round(problem([], [(10, 0, True)], [(0, 0, 0, 0, 0)]), MODEL, POLICY)
    assert plan.waiting[0].startswith("no drone available")


def test_priority_first_even_when_farther():
    # one drone, a near normal delivery and a far high-priority one
    p = problem([(0, 0, 1.0)], [(10, 0, True), (100, 0, True)], [(0, 0, 0, 0, 0), (1, 0, 1, 0, 0)])
    plan = plan_round(p, MODEL, POLICY)
    assert assigned(plan) == {1: 0}
    assert "waiting for a drone" in plan.waiting[0]


def test_aging_lets_an_old_normal_delivery_overtake_a_new_priority_one():
    p = problem([(0, 0, 1.0)], [(10, 0, True), (100, 0, True)], [(0, 0, 0, 1300, 0), (1, 0, 1, 0, 0)])
    assert assigned(plan_round(p, MODEL, POLICY)) == {0: 0}


def test_nothing_starves_within_a_class_behind_nearer_deliveries():
    # the far delivery has waited longest: a class of its own above the stream of new near ones
    near = [(0, 0, 0, 10.0 * k, 0) for k in range(5)]
    p = problem([(0, 0, 1.0)], [(10, 0, True), (150, 0, True)], [*near, (1, 0, 0, 700, 0)])
    assert assigned(plan_round(p, MODEL, POLICY)) == {5: 0}


def test_delivery_without_locker_takes_a_free_one():
    p = problem(
        [(0, 0, 1.0)], [(10, 0, True), (50, 0, True)], [(ANY_LOCKER, 1, 0, 0, 0)], [[5, 0, 5], [0, 2, 0]]
    )
    plan = plan_round(p, MODEL, POLICY)
    assert [(a.delivery, a.locker) for a in plan.assignments] == [(0, 1)]


def brute_force(p):
    """Minimum total time among maximum-cardinality matchings, by enumeration (tiny cases, one class)."""
    n, m = len(p.drone_ids), len(p.delivery_ids)
    out = np.hypot(
        p.drone_xy[:, None, 0] - p.locker_xy[None, :, 0], p.drone_xy[:, None, 1] - p.locker_xy[None, :, 1]
    )
    back = np.hypot(
        p.base_xy[:, None, 0] - p.locker_xy[None, :, 0], p.base_xy[:, None, 1] - p.locker_xy[None, :, 1]
    )
    best = (0, 0.0)
    for k in range(min(n, m), 0, -1):
        for drones in itertools.permutations(range(n), k):
            for jobs in itertools.combinations(range(m), k):
                total, ok = 0.0, True
                for i, j in zip(drones, jobs, strict=True):
                    lk = p.delivery_locker[j]
                    need = (
                        ((out[i, lk] + back[i, lk]) / MODEL.cruise_speed + MODEL.overhead_s)
                        * MODEL.drain_per_s
                        * (1 + MODEL.payload_drain_per_kg * p.weight[j])
                    )
                    if need > p.battery[i] - MODEL.reserve:
                        ok = False
                        break
                    total += out[i, lk] / MODEL.cruise_speed + MODEL.overhead_s / 2
                if ok and (k, -total) > (best[0], -best[1]):
                    best = (k, total)
        if best[0] == k:
            return best
    return best


@pytest.mark.parametrize("seed", range(25))
def test_optimal_against_brute_force_on_small_cases(seed):
    rng = np.random.default_rng(seed)
    n, m, n_lockers = int(rng.integers(1, 5)), int(rng.integers(1, 6)), 3
    drones = [(*rng.uniform(-150, 150, 2), rng.uniform(0.4, 1.0)) for _ in range(n)]
    lockers = [(*rng.uniform(-150, 150, 2), True) for _ in range(n_lockers)]
    deliveries = [(int(rng.integers(0, n_lockers)), 0, 0, 0.0, float(rng.uniform(0, 1))) for _ in range(m)]
    p = problem(drones, lockers, deliveries)
    plan = plan_round(p, MODEL, POLICY)
    count, cost = brute_force(p)
    assert len(plan.assignments) == count
    assert plan.cost == pytest.approx(cost, rel=1e-9, abs=1e-6)
    greedy = greedy_round(p, MODEL, POLICY)
    if len(greedy.assignments) == count:
        assert greedy.cost >= plan.cost - 1e-6
    assert len(set(assigned(plan).values())) == len(plan.assignments)  # a drone takes at most one


def test_greedy_can_be_worse_than_hungarian():
    # classic: the first delivery grabs the drone the second one needed
    p = problem(
        [(0, 0, 1.0), (100, 0, 1.0)], [(45, 0, True), (0, 5, True)], [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0)]
    )
    best, greedy = plan_round(p, MODEL, POLICY), greedy_round(p, MODEL, POLICY)
    assert len(best.assignments) == len(greedy.assignments) == 2
    assert best.cost < greedy.cost
