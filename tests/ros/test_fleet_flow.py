"""Fleet manager against fake drones and lockers: one delivery end to end, then 3 drones x 10 deliveries."""

import urllib.request

import pytest
import rospy
from fakes.site import WORLD, FleetSite
from harness import free_port, wait_for

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}
FLOW = [
    "QUEUED",
    "ASSIGNED",
    "LOADING",
    "IN_FLIGHT",
    "AT_LOCKER",
    "DROPPING",
    "AWAITING_PICKUP",
    "COMPLETED",
]


@pytest.fixture(scope="module")
def site(rospy_node, ros_processes, tmp_path_factory):
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    site.metrics_port = free_port()
    site.start_fakes(locker_params={"auto_pickup": 0.3})
    site.start_fleet(metrics_port=site.metrics_port)
    return site


def test_one_delivery_end_to_end(site):
    resp = site.submit_one("e2e-1", "locker_1", "M")
    assert not resp.duplicate and resp.status.state_name == "QUEUED"
    done = site.wait_state("e2e-1", "COMPLETED", 60)
    assert done.drop_confirmed and done.drone_id and done.cell_id and done.attempts == 1
    history = [h.state_name for h in site.get("e2e-1").history]
    assert [s for i, s in enumerate(history) if i == 0 or s != history[i - 1]] == FLOW
    wait_for(
        lambda: site.published_states("e2e-1")[-1:] == ["COMPLETED"], 10, "the COMPLETED status message"
    )
    assert set(FLOW) <= set(site.published_states("e2e-1"))


def test_submit_is_idempotent_and_bad_input_is_refused(site):
    site.submit_one("dup-1", "locker_2")
    again = site.submit("dup-1", "other", "locker_1", "L", 1, 0.1)
    assert again.success and again.duplicate and again.status.locker_id == "locker_2"
    bad = site.submit("bad-1", "o", "locker_9", "S", 0, 0.1)
    assert not bad.success and "unknown locker" in bad.message
    bad = site.submit("bad-2", "o", "locker_1", "XXL", 0, 0.1)
    assert not bad.success and "cell_size" in bad.message
    assert not site.get("bad-1").success
    site.wait_state("dup-1", "COMPLETED", 60)


def test_three_drones_ten_deliveries_all_complete(site):
    ids = [f"batch-{i}" for i in range(10)]
    for i, delivery_id in enumerate(ids):
        site.submit_one(delivery_id, ["locker_1", "locker_2", ""][i % 3], "SML"[i % 3], priority=i % 2)
    finals = [site.wait_state(d, "COMPLETED", 120) for d in ids]
    assert len({f.drone_id for f in finals}) == 3
    assert all(f.attempts == 1 and f.drop_confirmed for f in finals)
    listed = site.list([7], 0).deliveries  # COMPLETED
    assert set(ids) <= {d.delivery_id for d in listed}


def test_summary_diagnostics_and_metrics(site):
    summary = wait_for(
        lambda: site.summary if site.summary and site.summary.deliveries_completed >= 1 else None,
        30,
        "a fleet summary",
    )
    assert summary.drones_total == 3 and len(summary.drones) == 3 and len(summary.lockers) == 2
    assert summary.lockers_online == 2 and not summary.paused
    body = (
        urllib.request.urlopen(f"http://127.0.0.1:{site.metrics_port}/metrics", timeout=10).read().decode()
    )
    assert 'skypost_fleet_deliveries_total{outcome="completed"}' in body
    assert "skypost_fleet_dispatch_latency_seconds_count" in body
    assert "skypost_fleet_queue_depth" in body
    from diagnostic_msgs.msg import DiagnosticArray

    def fleet_diagnostics():
        array = rospy.wait_for_message("/diagnostics", DiagnosticArray, timeout=10)
        return next((s for s in array.status if s.name == "skypost fleet: manager"), None)

    status = wait_for(fleet_diagnostics, 30, "the fleet's diagnostics")
    assert {kv.key for kv in status.values} >= {"queued", "completed", "drones offline"}
