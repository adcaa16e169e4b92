"""Every failure path of a delivery ends in its terminal state (the fakes misbehave on purpose)."""

import pytest
import rospy
from fakes.site import WORLD, FleetSite, drone_idle
from harness import wait_for
from skypost.msg import LockerState
from skypost.srv import ConfirmLoaded, ReleaseCell

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}
DRONES = ("drone_1", "drone_2", "drone_3")


@pytest.fixture(scope="module")
def site(rospy_node, ros_processes, tmp_path_factory):
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    site.start_fakes()
    site.start_fleet()
    return site


@pytest.fixture(autouse=True)
def normal_fakes(site):
    """Every test starts and ends with well-behaved fakes and every drone idle and in service."""
    yield
    for name in ("behaviour", "battery", "leg_time"):
        if rospy.has_param(f"/fake_drones/{name}"):
            rospy.delete_param(f"/fake_drones/{name}")
    for drone in DRONES:
        site.in_service(drone, True, "")
    wait_for(lambda: all(drone_idle(site, d) for d in DRONES), 60, "every drone idle again")


def reservations(locker_id: str) -> dict[str, int]:
    msg = rospy.wait_for_message(f"/lockers/{locker_id}/state", LockerState, timeout=30)
    return {c.reservation_id: c.cell_id for c in msg.cells if c.reserved}


def pick_up(locker_id: str, delivery_id: str) -> None:
    resp = rospy.ServiceProxy(f"/lockers/{locker_id}/sim/pickup", ReleaseCell)(delivery_id)
    assert resp.success, resp.message


def test_drone_aborts_in_flight_fails_and_releases_the_cell(site):
    rospy.set_param("/fake_drones/behaviour", "abort")
    site.submit_one("abort-1")
    failed = site.wait_state("abort-1", "FAILED", 60)
    assert failed.reason.startswith("drone_aborted")
    wait_for(lambda: "abort-1" not in reservations("locker_1"), 30, "the reservation to be released")


def test_drone_offline_in_flight_fails(site):
    rospy.set_param("/fake_drones/behaviour", "silent")
    site.submit_one("offline-1")
    failed = site.wait_state("offline-1", "FAILED", 60)
    assert failed.reason.startswith("drone_offline")
    wait_for(lambda: "offline-1" not in reservations("locker_1"), 30, "the reservation to be released")


def test_cell_that_does_not_open_is_replaced(site):
    rospy.set_param("/fake_lockers/fail_open/locker_2", [7])
    site.submit_one("swap-1", "locker_2", "L")
    waiting = site.wait_state("swap-1", "AWAITING_PICKUP", 60)
    assert waiting.cell_id == 8 and waiting.drop_confirmed
    pick_up("locker_2", "swap-1")
    site.wait_state("swap-1", "COMPLETED", 30)
    history = [h.reason for h in site.get("swap-1").history]
    assert any("cell 7 did not open" in r for r in history)


def test_no_cell_opens_cell_failed_and_the_drone_brings_the_parcel_back(site):
    rospy.set_param("/fake_lockers/fail_open/locker_2", [4, 5, 6, 7])
    site.submit_one("cellfail-1", "locker_2", "M")
    failed = site.wait_state("cellfail-1", "FAILED", 60)
    assert failed.reason.startswith("cell_failed")
    wait_for(lambda: "cellfail-1" not in reservations("locker_2"), 30, "the reservation to be released")


def test_drop_without_sensor_confirmation_is_unconfirmed(site):
    rospy.set_param("/fake_drones/behaviour", "no_sensor")
    site.submit_one("unconf-1", "locker_1", "M")
    waiting = site.wait_state("unconf-1", "AWAITING_PICKUP", 60)
    assert not waiting.drop_confirmed
    pick_up("locker_1", "unconf-1")
    assert not site.wait_state("unconf-1", "COMPLETED", 30).drop_confirmed


def test_drone_that_never_drops_returns_and_fails(site):
    rospy.set_param("/fake_drones/behaviour", "no_drop")
    site.submit_one("nodrop-1", "locker_1", "L")
    failed = site.wait_state("nodrop-1", "FAILED", 60)
    assert failed.reason.startswith("returned_with_parcel")
    wait_for(lambda: "nodrop-1" not in reservations("locker_1"), 30, "the reservation to be released")


def test_cancel_in_flight_sends_the_drone_home_and_frees_the_cell(site):
    rospy.set_param("/fake_drones/leg_time", 4.0)
    site.submit_one("cancel-1")
    flying = site.wait_state("cancel-1", "IN_FLIGHT", 60)
    resp = site.cancel("cancel-1", "customer changed their mind")
    assert resp.success and resp.status.state_name == "CANCELLED"
    wait_for(lambda: drone_idle(site, flying.drone_id), 30, "the drone back home")
    wait_for(lambda: "cancel-1" not in reservations("locker_1"), 30, "the reservation to be released")
    assert not site.cancel("cancel-1", "again").success


def test_recall_cancels_the_drones_delivery(site):
    rospy.set_param("/fake_drones/leg_time", 4.0)
    site.submit_one("recall-1")
    flying = site.wait_state("recall-1", "IN_FLIGHT", 60)
    resp = site.recall(flying.drone_id, "gusts")
    assert resp.success, resp.message
    assert "recalled" in site.wait_state("recall-1", "CANCELLED", 30).reason


def test_unknown_battery_keeps_the_delivery_queued_with_a_reason(site):
    rospy.set_param("/fake_drones/battery", -1.0)
    wait_for(
        lambda: site.summary and not any(d.battery_known for d in site.summary.drones),
        30,
        "the fleet to see unknown batteries",
    )
    site.submit_one("battery-1")
    wait_for(lambda: "battery unknown" in site.state("battery-1").reason, 30, "a battery reason")
    assert site.state("battery-1").state_name == "QUEUED"
    rospy.set_param("/fake_drones/battery", 0.9)
    site.wait_state("battery-1", "AWAITING_PICKUP", 60)
    pick_up("locker_1", "battery-1")


def test_paused_site_dispatches_nothing_until_resumed(site):
    assert site.pause(True, "thunderstorm").success
    site.submit_one("pause-1")
    wait_for(lambda: site.state("pause-1").reason == "site paused: thunderstorm", 30, "the pause reason")
    wait_for(lambda: site.summary is not None and site.summary.paused, 10, "the summary to show the pause")
    assert site.state("pause-1").state_name == "QUEUED"
    assert site.pause(False, "").success
    site.wait_state("pause-1", "AWAITING_PICKUP", 60)
    pick_up("locker_1", "pause-1")


def test_failed_delivery_can_be_retried(site):
    rospy.set_param("/fake_drones/behaviour", "abort")
    site.submit_one("retry-1", "locker_2", "S")
    site.wait_state("retry-1", "FAILED", 60)
    rospy.delete_param("/fake_drones/behaviour")
    wait_for(lambda: all(drone_idle(site, d) for d in DRONES), 60, "every drone idle")
    resp = site.retry("retry-1", "weather cleared")
    assert resp.success and resp.status.state_name == "QUEUED"
    done = site.wait_state("retry-1", "AWAITING_PICKUP", 60)
    assert done.attempts == 2
    assert not site.retry("retry-1", "again").success  # only FAILED deliveries


def test_out_of_service_drones_are_skipped(site):
    for drone in ("drone_1", "drone_2"):
        assert site.in_service(drone, False, "propeller check").success
    site.submit_one("oos-1", "locker_2", "S")
    assert site.wait_state("oos-1", "AWAITING_PICKUP", 60).drone_id == "drone_3"
    assert not site.in_service("drone_9", False, "").success


def test_operator_confirms_loading_on_a_real_site(site, ros_processes):
    site.stop_fleet()
    site.start_fleet(name="fleet_manual_load", auto_load=False)
    site.submit_one("load-1", "locker_2", "S")
    loading = site.wait_state("load-1", "LOADING", 60)
    assert "waiting for the parcel" in loading.reason
    confirm = rospy.ServiceProxy("/fleet/confirm_loaded", ConfirmLoaded)
    assert confirm("load-1").success
    site.wait_state("load-1", "AWAITING_PICKUP", 60)
    assert not confirm("load-1").success
