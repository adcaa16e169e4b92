"""FleetCore without ROS: a small simulated site answers the actions; the test plays drones and lockers."""

import math

import pytest

from skypost_common.world import parse_world
from skypost_fleet import lifecycle as lc
from skypost_fleet.core import FleetConfig, FleetCore
from skypost_fleet.model import DeliveryRequest, DropSignal, InvalidRequestError, Mission, Outcome, State
from skypost_fleet.registry import CellReport, DroneReport, LockerReport, Registry
from skypost_fleet.store import Store

pytestmark = pytest.mark.unit
WORLD = parse_world(
    {
        "bases": [{"id": "base_1", "position": [0, 0, 0], "marker_id": 100}],
        "lockers": [{"id": "locker_1", "position": [30, 0, 0], "marker_id": 11, "cells": ["S", "S", "M"]}],
        "drones": [
            {"id": "drone_1", "base": "base_1", "start": [0, -2]},
            {"id": "drone_2", "base": "base_1", "start": [2, -2]},
        ],
    }
)


class Site:
    """Effects for the core: lockers and drones that answer at once (or as told)."""

    def __init__(self):
        self.now = 1000.0
        self.pending = []
        self.statuses = []
        self.cells = {1: "S", 2: "S", 3: "M"}
        self.reserved = {}  # cell -> delivery
        self.occupied = set()
        self.goals = {}  # goal id -> (drone, delivery)
        self.cancelled = []
        self.signals = []
        self.fail_open = set()
        self.core = None

    def clock(self):
        return self.now

    def execute(self, actions, on_done=None):
        self.pending.extend(actions)
        if on_done is not None:
            self.pending.append(on_done)

    def status(self, d):
        self.statuses.append(d)

    def pump(self):
        while self.pending:
            a = self.pending.pop(0)
            if callable(a):      # an on_done callback queued after its actions
                a()
                continue
            match a:
                case lc.ReserveCell():
                    cell = a.cell_id or next(
                        (
                            c
                            for c, s in self.cells.items()
                            if s == a.size and c not in self.reserved and c not in self.occupied
                        ),
                        0,
                    )
                    if cell:
                        self.reserved[cell] = a.delivery_id
                        self.core.on_result(a.delivery_id, lc.Reserved(a.attempt, cell))
                    else:
                        self.core.on_result(a.delivery_id, lc.ReserveFailed(a.attempt, "full"))
                    self.publish_locker()
                case lc.ReleaseCell():
                    for c in [c for c, d in self.reserved.items() if d == a.delivery_id]:
                        del self.reserved[c]
                    self.publish_locker()
                case lc.OpenCell():
                    ok = a.cell_id not in self.fail_open
                    self.core.on_result(
                        a.delivery_id, lc.Opened(a.attempt) if ok else lc.OpenFailed(a.attempt, "jammed")
                    )
                case lc.CloseCell():
                    self.core.on_result(a.delivery_id, lc.Closed(a.attempt, True))
                case lc.SendGoal():
                    goal_id = f"goal-{len(self.goals) + 1}"
                    self.goals[goal_id] = (a.drone_id, a.delivery_id)
                    self.core.on_result(a.delivery_id, lc.GoalSent(a.attempt, goal_id, a.drone_id))
                case lc.CancelGoal():
                    self.cancelled.append(a)
                case lc.SendDropControl():
                    self.signals.append((a.drone_id, DropSignal(a.signal)))
                    self.core.on_result(a.delivery_id, lc.Signalled(a.attempt, a.signal, True))

    def publish_locker(self):
        cells = tuple(
            CellReport(c, s, 2 if c in self.occupied else 1, c in self.reserved, self.reserved.get(c, ""))
            for c, s in self.cells.items()
        )
        self.core.on_locker_report(LockerReport("locker_1", 1, cells))

    def drone(self, drone_id, state=Mission.IDLE, delivery="", battery=0.9):
        self.core.on_drone_report(
            DroneReport(drone_id, int(state), delivery, True, True, battery, 0.0, -2.0)
        )

    def goal_of(self, delivery_id):
        return next(g for g, (_dr, d) in self.goals.items() if d == delivery_id)


def make(tmp_path, site=None, **life):
    site = site or Site()
    registry = Registry.from_world(WORLD, ["drone_1", "drone_2"], ["locker_1"], 30.0, 5.0)
    config = FleetConfig(lifecycle=lc.LifecycleConfig(**{"auto_retries": 0, **life}), goal_lost_grace=10.0)
    core = FleetCore(Store(tmp_path / "fleet.sqlite"), registry, config, site.clock, site)
    site.core = core
    core.start()
    site.publish_locker()
    return site, core


def submit(core, delivery_id="d1", size="S", **kw):
    return core.submit(DeliveryRequest(delivery_id, "order", kw.pop("locker", "locker_1"), size, **kw))


def fly_to_pickup(site, core, delivery_id, drone_id):
    goal = site.goal_of(delivery_id)
    core.on_goal_feedback(drone_id, goal, Mission.WAITING_DROP, 0.0)
    site.pump()
    site.drone(drone_id, Mission.DROPPED, delivery_id)
    cell = core.get(delivery_id)[0].cell_id
    site.occupied.add(cell)
    site.publish_locker()
    site.pump()


def test_one_delivery_end_to_end(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    d, duplicate = submit(core)
    assert d.state == State.QUEUED and not duplicate
    core.run_round()
    site.pump()
    d = core.get("d1")[0]
    assert d.state == State.IN_FLIGHT and d.goal_active and not math.isnan(d.dispatch_latency)
    fly_to_pickup(site, core, "d1", d.drone_id)
    assert core.get("d1")[0].state == State.AWAITING_PICKUP
    assert [s for _d, s in site.signals] == [DropSignal.CELL_OPENED, DropSignal.DROP_CONFIRMED]
    core.on_goal_result(d.drone_id, site.goal_of("d1"), Outcome.DELIVERED, True, "")
    core.on_pickup("locker_1", "d1", d.cell_id, True, "ok")
    final, history = core.get("d1")
    assert final.state == State.COMPLETED and final.drop_confirmed and not final.goal_active
    assert history[0].state == State.QUEUED and history[-1].state == State.COMPLETED
    assert "d1" not in core.deliveries


def test_submit_is_idempotent_and_validated(tmp_path):
    _site, core = make(tmp_path)
    submit(core)
    again, duplicate = submit(core, size="M")
    assert duplicate and again.cell_size == "S"
    bad = [
        DeliveryRequest(" "),
        DeliveryRequest("d 2"),
        DeliveryRequest("d2", cell_size="XL"),
        DeliveryRequest("d2", locker_id="nowhere"),
        DeliveryRequest("d2", priority=7),
        DeliveryRequest("d2", weight_kg=-1.0),
    ]
    for request in bad:
        with pytest.raises(InvalidRequestError):
            core.submit(request)
    assert core.store.get("d2") is None


def test_waiting_reason_is_visible(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1", battery=math.nan)
    submit(core)
    core.run_round()
    assert "battery" in core.get("d1")[0].reason
    core.set_paused(True, "storm")
    core.run_round()
    assert core.get("d1")[0].reason == "site paused: storm"


def test_restart_mid_flight_loses_nothing(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    drone = core.get("d1")[0].drone_id
    core.store.close()
    # a new core on the same store: the delivery is back, in flight, and the drone's goal is routed to it
    site2 = Site()
    site2.goals, site2.now = site.goals, site.now + 5
    site2, core2 = make(tmp_path, site2)
    assert core2.get("d1")[0].state == State.IN_FLIGHT
    site2.drone(drone, Mission.NAVIGATING, "d1")
    fly_to_pickup(site2, core2, "d1", drone)
    core2.on_pickup("locker_1", "", core2.get("d1")[0].cell_id, True, "")
    assert core2.get("d1")[0].state == State.COMPLETED


def test_drone_offline_in_flight_fails_and_releases(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    site.now += 31
    core.tick()
    site.pump()
    d = core.get("d1")[0]
    assert d.state == State.FAILED and d.reason.startswith("drone_offline")
    assert site.reserved == {}


def test_goal_gone_from_the_drone_is_detected(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    site.drone("drone_1", Mission.NAVIGATING, "d1")
    site.now += 5
    site.drone("drone_1", Mission.IDLE, "")  # e.g. the drone node restarted
    site.now += 11
    site.drone("drone_1", Mission.IDLE, "")
    core.tick()
    d = core.get("d1")[0]
    assert d.state == State.FAILED and d.reason.startswith("goal_lost") and not d.goal_active


def test_cell_that_fails_to_open_is_swapped(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    first = core.get("d1")[0].cell_id
    site.fail_open.add(first)
    fly_to_pickup(site, core, "d1", "drone_1")
    d = core.get("d1")[0]
    assert d.state == State.AWAITING_PICKUP and d.cell_id != first


def test_recall_cancels_and_sends_the_drone_home(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    message = core.recall_drone("drone_1", "wind")
    site.pump()
    assert "cancelled d1" in message
    assert core.get("d1")[0].state == State.CANCELLED
    assert site.cancelled and site.cancelled[0].goal_id == site.goal_of("d1")
    assert site.reserved == {}


def test_out_of_service_drone_is_not_used(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    core.set_drone_in_service("drone_1", False, "maintenance")
    submit(core)
    core.run_round()
    assert core.get("d1")[0].state == State.QUEUED
    core.set_drone_in_service("drone_1", True, "")
    core.run_round()
    assert core.get("d1")[0].state == State.ASSIGNED


def test_two_drones_two_deliveries_and_capacity(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    site.drone("drone_2")
    for i in range(3):
        submit(core, f"d{i}")
    core.run_round()
    site.pump()
    states = sorted(core.get(f"d{i}")[0].state for i in range(3))
    assert states == [State.QUEUED, State.IN_FLIGHT, State.IN_FLIGHT]  # two S cells, two drones
    waiting = next(core.get(f"d{i}")[0] for i in range(3) if core.get(f"d{i}")[0].state == State.QUEUED)
    assert "S cell" in waiting.reason or "drone" in waiting.reason


def test_recall_after_the_drop_leaves_the_parcel_waiting(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    fly_to_pickup(site, core, "d1", "drone_1")
    message = core.recall_drone("drone_1", "wind")
    site.pump()
    assert core.get("d1")[0].state == State.AWAITING_PICKUP
    assert "returns to base" in message and site.cancelled[-1].goal_id == site.goal_of("d1")


def test_locker_reasons_are_specific(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.on_locker_report(LockerReport("locker_1", 3, ()))      # MAINTENANCE
    core.run_round()
    assert core.get("d1")[0].reason == "locker locker_1 is not online (MAINTENANCE)"


def test_drone_lost_while_loading_requeues_and_frees_the_cell(tmp_path):
    site, core = make(tmp_path, auto_load=False, auto_retries=1)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    assert core.get("d1")[0].state == State.LOADING and site.reserved
    site.now += 31                      # drone_1 silent longer than the 30 s heartbeat timeout
    core.tick()
    site.pump()
    d = core.get("d1")[0]
    assert d.state == State.QUEUED and d.reason.startswith("drone_unavailable") and site.reserved == {}


def test_undo_calls_survive_a_crash_between_decision_and_call(tmp_path):
    site, core = make(tmp_path)
    site.drone("drone_1")
    submit(core)
    core.run_round()
    site.pump()
    core.cancel("d1", "customer")              # decided and committed ...
    assert core.store.outbox()                 # ... release and cancel-goal are queued durably
    site.pending.clear()                       # ... and the process dies before running them
    core.store.close()
    site2 = Site()
    site2.reserved, site2.goals, site2.now = site.reserved, site.goals, site.now + 5
    site2, core2 = make(tmp_path, site2)
    site2.pump()
    assert site2.reserved == {} and [c.goal_id for c in site2.cancelled] == [site.goal_of("d1")]
    assert core2.store.outbox() == []


# --------------------------------------------------------------------------------------- random operations
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

OPS = ("submit", "round", "pump", "report", "arrive", "drop", "result", "tick", "cancel", "retry", "pickup",
       "restart")


def running(site):
    finished = site.__dict__.setdefault("finished", set())
    return [(g, dr, d) for g, (dr, d) in site.goals.items() if g not in finished]


def check_invariants(core, submitted):
    held = {}
    for d in core.deliveries.values():
        if d.terminal:
            continue
        for drone in d.held_drones():
            assert drone not in held, f"{drone} held by {held[drone]} and {d.delivery_id}"
            held[drone] = d.delivery_id
    for delivery_id in submitted:
        assert core.get(delivery_id)[0].delivery_id == delivery_id     # nothing accepted is lost


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_operations_and_crashes_keep_every_promise(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("random")
    site, core = make(path, auto_retries=1)
    site.finished = set()
    submitted = []
    for _ in range(data.draw(st.integers(1, 150), label="steps")):
        op = data.draw(st.sampled_from(OPS), label="op")
        live = running(site)
        if op == "submit":
            submitted.append(f"r{len(submitted)}")
            submit(core, submitted[-1], size=data.draw(st.sampled_from("SM")))
        elif op == "round":
            core.run_round()
        elif op == "pump":
            site.pump()
        elif op == "report":
            for drone in ("drone_1", "drone_2"):
                mine = [(g, d) for g, dr, d in live if dr == drone]
                site.drone(drone, Mission.NAVIGATING if mine else Mission.IDLE, mine[0][1] if mine else "")
        elif op in ("arrive", "drop", "result") and live:
            goal, drone, delivery = data.draw(st.sampled_from(live))
            if op == "arrive":
                core.on_goal_feedback(drone, goal, Mission.WAITING_DROP, 0.0)
            elif op == "drop":
                site.drone(drone, Mission.DROPPED, delivery)
                site.occupied.update(c for c, d in site.reserved.items() if d == delivery)
                site.publish_locker()
            else:
                outcome = data.draw(st.sampled_from(list(Outcome)))
                site.finished.add(goal)
                core.on_goal_result(drone, goal, outcome, outcome in (0, 1), "")
                site.drone(drone)
        elif op == "tick":
            site.now += data.draw(st.sampled_from([0.5, 5.0, 40.0]))
            for drone in ("drone_1", "drone_2"):    # heartbeats keep coming
                mine = [(g, d) for g, dr, d in running(site) if dr == drone]
                site.drone(drone, Mission.NAVIGATING if mine else Mission.IDLE, mine[0][1] if mine else "")
            core.tick()
        elif op in ("cancel", "retry") and submitted:
            target = data.draw(st.sampled_from(submitted))
            try:
                core.cancel(target, "c") if op == "cancel" else core.retry(target, "r")
            except InvalidRequestError:
                pass
        elif op == "pickup" and submitted:
            target = data.draw(st.sampled_from(submitted))
            cells = [c for c, d in site.reserved.items() if d == target and c in site.occupied]
            if cells:
                del site.reserved[cells[0]]
                site.occupied.discard(cells[0])
                core.on_pickup("locker_1", target, cells[0], True, "")
        elif op == "restart":
            site.pending.clear()                    # calls in progress die with the process
            core.store.close()
            site, core = make(path, site, auto_retries=1)
        check_invariants(core, submitted)
    # drain: drones finish, time passes, every delivery must end
    for _ in range(60):
        site.pump()
        for goal, drone, _d in running(site):
            site.finished.add(goal)
            core.on_goal_result(drone, goal, Outcome.RETURNED_WITH_PARCEL, False, "")
        site.drone("drone_1")
        site.drone("drone_2")
        site.now += 100000.0
        core.tick()
        site.pump()
        check_invariants(core, submitted)
        if all(core.get(d)[0].terminal for d in submitted):
            break
    assert all(core.get(d)[0].terminal for d in submitted)
    for delivery_id in submitted:
        event(f"ended {core.get(delivery_id)[0].reason.split(':')[0]}")
    for cell, delivery_id in site.reserved.items():   # only parcels that reached their cell keep one
        states = {h.state for h in core.get(delivery_id)[1]}
        assert State.DROPPING in states, f"cell {cell} still reserved for {delivery_id} ({states})"
