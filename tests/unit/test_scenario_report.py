"""The scenario report's figures on synthetic status histories (skypost_sim.report, report_plots)."""
import math
import random

import pytest

from skypost_sim.report import (
    DroneSample,
    RunInfo,
    StatusEvent,
    build_records,
    cancel_reason,
    headline,
    percentile,
    phase_counts,
    phase_series,
    reason_code,
    render_markdown,
    utilisation,
)

pytestmark = pytest.mark.unit

DRONES = ("drone_1", "drone_2")


def ev(delivery: str, state: str, stamp: float, reason: str = "", drone: str = "", locker: str = "locker_1",
       created: float = math.nan) -> StatusEvent:
    return StatusEvent(delivery, state, stamp, reason, drone, locker, 1, created)


def history() -> list[StatusEvent]:
    """d1 completed, d2 failed in flight, d3 delivered then cancelled, d4 still queued."""
    return [
        ev("d1", "QUEUED", 0.1), ev("d1", "ASSIGNED", 2, drone="drone_1"), ev("d1", "LOADING", 2, drone="drone_1"),
        ev("d1", "IN_FLIGHT", 3, drone="drone_1"), ev("d1", "AT_LOCKER", 30, drone="drone_1"),
        ev("d1", "DROPPING", 32, drone="drone_1"), ev("d1", "AWAITING_PICKUP", 40, drone="drone_1"),
        ev("d1", "COMPLETED", 100, "picked up", drone="drone_1"),
        ev("d2", "QUEUED", 10), ev("d2", "ASSIGNED", 20, drone="drone_2"), ev("d2", "IN_FLIGHT", 21, drone="drone_2"),
        ev("d2", "FAILED", 50, "drone_offline: no state for 30 s", drone="drone_2"),
        ev("d3", "QUEUED", 20, locker="locker_2"), ev("d3", "ASSIGNED", 22, drone="drone_1", locker="locker_2"),
        ev("d3", "IN_FLIGHT", 24, drone="drone_1", locker="locker_2"),
        ev("d3", "AWAITING_PICKUP", 80, drone="drone_1", locker="locker_2"),
        ev("d3", "CANCELLED", 200, "cancelled: scenario end: parcel in offline locker_2; the parcel stays in "
                                  "locker_2 cell 1 for retrieval", locker="locker_2"),
        ev("d4", "QUEUED", 30, "no free S cell at locker_1"),
    ]


SUBMITTED = {"d1": 0.0, "d2": 10.0, "d3": 20.0, "d4": 30.0}
SAMPLES = [
    DroneSample(0, "drone_1", 1.0, "IDLE"), DroneSample(3, "drone_1", 0.95, "NAVIGATING"),
    DroneSample(43, "drone_1", 0.9, "IDLE"),
    DroneSample(0, "drone_2", 1.0, "IDLE"), DroneSample(21, "drone_2", 0.9, "NAVIGATING"),
    DroneSample(60, "drone_2", math.nan, "OFFLINE"),
]
RUN = RunInfo("synthetic", DRONES, ("locker_1", "locker_2"), 4, 2.0, 10.0, sim_seconds=200.0, wall_seconds=40.0,
              seed=3, faults=("50 s: drone_lost: drone_2: FCU link down",), notes=("1 open order cancelled",))


def test_records_follow_each_delivery_to_its_latest_state():
    records = build_records(SUBMITTED, history())
    assert {d: r.final_state for d, r in records.items()} == {
        "d1": "COMPLETED", "d2": "FAILED", "d3": "CANCELLED", "d4": "QUEUED"}
    d1 = records["d1"]
    assert (d1.assigned, d1.in_flight, d1.delivered, d1.final_at) == (2, 3, 40, 100)
    assert records["d2"].reason.startswith("drone_offline") and math.isnan(records["d2"].delivered)
    assert records["d3"].drone_id == "drone_1"  # the cancel event names no drone: the last known one stays


def test_records_do_not_depend_on_the_order_events_arrive_in():
    shuffled = history()
    random.Random(4).shuffle(shuffled)
    assert build_records(SUBMITTED, shuffled) == build_records(SUBMITTED, history())


def test_submission_time_falls_back_to_the_fleets_created_stamp_then_the_first_event():
    records = build_records({}, [ev("a", "QUEUED", 5.0, created=4.0), ev("b", "QUEUED", 7.0)])
    assert records["a"].submitted == 4.0
    assert records["b"].submitted == 7.0


def test_headline_figures():
    head = headline(build_records(SUBMITTED, history()), SAMPLES, RUN)
    assert (head.submitted, head.delivered, head.completed, head.failed, head.cancelled, head.not_terminal) == \
        (4, 2, 1, 1, 1, 1)
    assert head.failed_by_reason == {"drone_offline": 1}
    assert head.cancelled_by_reason == {"scenario end: parcel in offline locker_2": 1}
    # delivery times 40 (d1) and 60 (d3)
    assert head.delivery_time_p50 == pytest.approx(50.0)
    assert head.delivery_time_p95 == pytest.approx(59.0)
    assert head.delivery_time_max == pytest.approx(60.0)
    assert head.order_to_pickup_p50 == pytest.approx(100.0)
    # submit -> ASSIGNED: 2, 10, 2; submit -> IN_FLIGHT: 3, 11, 4 (d4 never assigned)
    assert head.dispatch_assigned_p50 == pytest.approx(2.0)
    assert head.dispatch_assigned_p95 == pytest.approx(9.2)
    assert head.dispatch_in_flight_p50 == pytest.approx(4.0)
    assert head.dispatch_in_flight_p95 == pytest.approx(10.3)
    # window: first submission (0) -> d3 in its cell (80); 2 drones -> 160 drone-seconds
    assert head.window_seconds == pytest.approx(80.0)
    assert head.drone_hours == pytest.approx(160.0 / 3600.0)
    assert head.deliveries_per_drone_hour == pytest.approx(2 / (160.0 / 3600.0))
    assert head.utilisation == pytest.approx({"drone_1": 40 / 80, "drone_2": 39 / 80})
    assert head.mean_utilisation == pytest.approx((40 / 80 + 39 / 80) / 2)
    assert head.real_time_factor == pytest.approx(5.0)


def test_headline_of_a_run_where_nothing_was_delivered():
    events = [ev("x", "QUEUED", 1.0), ev("x", "FAILED", 9.0, "queue_timeout")]
    head = headline(build_records({"x": 1.0}, events), [], RunInfo("empty", DRONES, ("locker_1",), 1, 1.0, 1.0,
                                                                   8.0, 0.0))
    assert head.delivered == 0 and head.failed == 1 and head.not_terminal == 0
    assert math.isnan(head.delivery_time_p50) and math.isnan(head.dispatch_assigned_p50)
    assert head.deliveries_per_drone_hour == pytest.approx(0.0)
    assert math.isnan(head.real_time_factor)
    assert head.utilisation == pytest.approx({"drone_1": 0.0, "drone_2": 0.0})


def test_utilisation_clips_samples_to_the_window_and_counts_unseen_time_as_idle():
    samples = [DroneSample(-50, "a", 1.0, "NAVIGATING"), DroneSample(10, "a", 1.0, "IDLE"),
               DroneSample(60, "b", 1.0, "RETURNING"), DroneSample(80, "b", 1.0, "EMERGENCY_LAND"),
               DroneSample(30, "x", 1.0, "NAVIGATING")]
    # b is down away from its base from t = 80: waiting for staff is not work
    assert utilisation(samples, ["a", "b", "c"], 0.0, 100.0) == pytest.approx({"a": 0.1, "b": 0.2, "c": 0.0})
    assert utilisation(samples, ["a"], 5.0, 5.0) == {"a": 0.0}


def test_phase_counts_and_series():
    assert phase_counts(["QUEUED", "IN_FLIGHT", "LOADING", "AWAITING_PICKUP", "COMPLETED", "FAILED", "CANCELLED"]) \
        == {"queued": 1, "active": 2, "awaiting_pickup": 1, "completed": 1, "failed": 1, "cancelled": 1}
    times, series = phase_series(history())
    assert times == sorted(times) and len(times) == len(history())
    last = {phase: values[-1] for phase, values in series.items()}
    assert last == {"queued": 1, "active": 0, "awaiting_pickup": 0, "completed": 1, "failed": 1, "cancelled": 1}
    assert max(series["active"]) == 3  # d1, d2 and d3 in the air together at t = 24


def test_reason_code_and_percentile():
    assert cancel_reason("cancelled: scenario end: timeout; the parcel stays in locker_1 cell 2") == \
        "scenario end: timeout"
    assert cancel_reason("operator request") == "operator request"
    assert cancel_reason("") == "unknown"
    assert reason_code("drone_offline: no state") == "drone_offline"
    assert reason_code("no_drop") == "no_drop"
    assert reason_code("") == "unknown"
    assert percentile([1.0, math.nan, 3.0], 50) == pytest.approx(2.0)
    assert math.isnan(percentile([math.nan], 50))


def test_markdown_leads_with_the_headline():
    head = headline(build_records(SUBMITTED, history()), SAMPLES, RUN)
    text = render_markdown(head, RUN, ["battery.png"])
    assert text.startswith("# Scenario synthetic")
    assert "| completed (picked up) | 1 |" in text
    assert "| failed | 1 (drone_offline × 1) |" in text
    assert "50.0 s / 59.0 s / 60.0 s" in text
    assert "| deliveries per drone-hour | 45.0" in text
    assert "| real-time factor | 5.00× |" in text
    assert "- 50 s: drone_lost: drone_2: FCU link down" in text
    assert "- 1 open order cancelled" in text
    assert "![battery.png](battery.png)" in text
    assert text.index("drone_1 |") < text.index("drone_2 |")


def test_plots_are_written_for_a_full_and_an_empty_history(tmp_path):
    from skypost_sim.report_plots import PLOTS, write_plots

    records = build_records(SUBMITTED, history())
    head = headline(records, SAMPLES, RUN)
    names = write_plots(tmp_path / "full", records, history(), SAMPLES, DRONES, head, 0.0)
    assert names == list(PLOTS)
    for name in names:
        assert (tmp_path / "full" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    empty_run = RunInfo("none", DRONES, ("locker_1",), 0, 1.0, 1.0, 0.0, 0.0)
    empty = headline({}, [], empty_run)
    write_plots(tmp_path / "empty", {}, [], [], DRONES, empty, 0.0)
    assert all((tmp_path / "empty" / name).stat().st_size > 1000 for name in PLOTS)
