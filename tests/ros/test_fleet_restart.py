"""Killing the fleet manager (SIGKILL) and starting it again loses nothing: queued deliveries stay queued,
flights in progress are re-attached and completed, the drone is freed even when its result was missed."""
import pytest
import rospy
from fakes.site import WORLD, FleetSite, drone_idle
from harness import wait_for
from skypost.srv import ReleaseCell

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}


@pytest.fixture(scope="module")
def site(rospy_node, ros_processes, tmp_path_factory):
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    site.start_fakes(drones="drone_1")
    site.start_fleet(name="fleet_0", drones="drone_1")
    site.generation = 0
    return site


def restart(site):
    site.kill_fleet()
    site.generation += 1
    site.start_fleet(name=f"fleet_{site.generation}", drones="drone_1")


def pick_up(delivery_id):
    assert rospy.ServiceProxy("/lockers/locker_1/sim/pickup", ReleaseCell)(delivery_id).success


@pytest.fixture(autouse=True)
def normal_speed():
    yield
    if rospy.has_param("/fake_drones/leg_time"):
        rospy.delete_param("/fake_drones/leg_time")


def test_kill_mid_flight_then_the_delivery_completes(site):
    rospy.set_param("/fake_drones/leg_time", 4.0)
    site.submit_one("fly-1")
    site.wait_state("fly-1", "IN_FLIGHT", 60)
    restart(site)
    assert site.state("fly-1").state_name in ("IN_FLIGHT", "AT_LOCKER", "DROPPING", "AWAITING_PICKUP")
    done = site.wait_state("fly-1", "AWAITING_PICKUP", 60)
    assert done.attempts == 1 and done.drop_confirmed
    pick_up("fly-1")
    site.wait_state("fly-1", "COMPLETED", 30)
    wait_for(lambda: drone_idle(site, "drone_1"), 60, "drone_1 idle")


def test_kill_while_queued_and_paused_keeps_both(site):
    assert site.pause(True, "maintenance").success
    for i in range(3):
        site.submit_one(f"queued-{i}")
    restart(site)
    for i in range(3):
        assert site.state(f"queued-{i}").state_name == "QUEUED"
    wait_for(lambda: site.summary is not None and site.summary.paused, 30, "the pause to survive the restart")
    assert site.pause(False, "").success
    for i in range(3):
        site.wait_state(f"queued-{i}", "AWAITING_PICKUP", 60)
        pick_up(f"queued-{i}")
        site.wait_state(f"queued-{i}", "COMPLETED", 30)


def test_kill_after_the_drop_while_the_drone_returns(site):
    # the drone's result arrives while the fleet is down: the drone must still become free again
    rospy.set_param("/fake_drones/leg_time", 3.0)
    site.submit_one("back-1")
    site.wait_state("back-1", "AWAITING_PICKUP", 60)
    restart(site)
    assert site.state("back-1").state_name == "AWAITING_PICKUP"
    rospy.delete_param("/fake_drones/leg_time")
    site.submit_one("back-2")
    assert site.wait_state("back-2", "AWAITING_PICKUP", 90).drone_id == "drone_1"
    for delivery_id in ("back-1", "back-2"):
        pick_up(delivery_id)
        site.wait_state(delivery_id, "COMPLETED", 30)
    history = [h.state_name for h in site.get("back-1").history]
    assert history[0] == "QUEUED" and history[-1] == "COMPLETED"
