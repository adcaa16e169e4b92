"""A small scenario on the whole simulated site (clover_sim, drone nodes, locker nodes on the real firmware in
simavr, the fleet manager), driven by scripts/scenario.py as a field tech would run it: 3 drones, 2 lockers,
5 orders, customers picking their parcels up, a recording. Every order must end terminal, every parcel reach its
locker, and the report and the bag be there."""
import json
import sys

import pytest
from harness import ARTIFACTS, ROOT, run_script

pytestmark = pytest.mark.e2e
OUT = ARTIFACTS / "scenario" / "e2e-small"
WALL_LIMIT = 240.0  # s; the run itself takes about a minute on a loaded 2-core machine
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def scenario():
    cmd = [sys.executable, str(ROOT / "scripts" / "scenario.py"), "--name", "e2e-small", "--out", str(OUT),
           "--drones", "3", "--lockers", "2", "--orders", "5", "--rate", "20", "--speed", "10", "--fleet-picks-locker",
           "--pickup-mean", "20", "--pickup-tries", "2", "--customer-timeout", "30", "--seed", "7", "--record",
           "--timeout", "150", "--stall", "300", "--startup-timeout", "120", "--progress", "10"]
    return run_script(cmd, WALL_LIMIT, "the scenario")


def test_every_order_ends_terminal(scenario):
    code, output = scenario
    assert code == 0, output[-4000:]
    history = json.loads((OUT / "history.json").read_text())
    assert len(history["submitted"]) == 5
    final = {}
    for event in sorted(history["events"], key=lambda e: e["stamp"]):
        final[event["delivery_id"]] = event["state"]
    assert set(final) == set(history["submitted"])
    assert set(final.values()) <= TERMINAL, final
    # with no faults every parcel reaches its locker (whether its customer collects it depends on the lockers'
    # pickup path; what did not finish is cancelled at the end and named in the report)
    reached = {e["delivery_id"] for e in history["events"] if e["state"] == "AWAITING_PICKUP"}
    assert reached == set(history["submitted"]), final
    assert any(state == "COMPLETED" for state in final.values()), final


def test_report_and_recording_are_written(scenario):
    code, output = scenario
    assert code == 0, output[-4000:]
    report = (OUT / "report.md").read_text()
    assert "| orders submitted | 5 |" in report
    assert "| delivered into a locker | 5 |" in report
    assert "| not terminal at the end | 0 |" in report
    for plot in ("deliveries_over_time.png", "delivery_time_hist.png", "battery.png", "utilisation.png"):
        assert (OUT / plot).read_bytes()[:4] == b"\x89PNG", plot
        assert f"]({plot})" in report
    import rosbag

    with rosbag.Bag(str(OUT / "mission.bag")) as bag:
        topics = bag.get_type_and_topic_info().topics
    assert topics["/fleet/delivery_status"].message_count >= 5 * 7  # QUEUED ... COMPLETED for each order
    for name in ("/fleet/summary", "/drone_1/state", "/drone_3/mavros/local_position/pose",
                 "/lockers/locker_2/state"):
        assert topics[name].message_count > 0, name
