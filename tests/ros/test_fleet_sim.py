"""The fleet manager with the real drone nodes flying in clover_sim (sim time, 10x); lockers are still the fakes
(the locker node is not in the tree yet). Deliveries complete with the drop confirmed by the cell's sensor, and a
locker whose cells do not open sends the real drone home with the parcel."""
import sys

import pytest
import rospy
from fakes.site import FAKES, WORLD, FleetSite
from harness import ROOT, wait_for

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/use_sim_time": True, "/skypost/world_file": str(WORLD)}
SPEED = 10.0
DRONES = ("drone_1", "drone_2", "drone_3")
# sim seconds: phase deadlines run on ROS time, call timeouts (service_timeout) on wall time
SIM_PARAMS = {"drone_timeout": 30.0, "tick_period": 0.5, "round_period": 2.0, "action_timeout": 120.0,
              "confirm_timeout": 30.0, "drop_timeout": 120.0, "goal_lost_grace": 30.0, "cruise_speed": 3.0,
              "mission_timeout": 900.0, "auto_retries": 0}


@pytest.fixture(scope="module")
def site(rospy_node, ros_processes, tmp_path_factory):
    ros_processes.start("clover_sim", ["rosrun", "skypost", "clover_sim", f"_world:={WORLD}", f"_speed:={SPEED}"])
    for drone in DRONES:
        ros_processes.start(drone, ["roslaunch", str(ROOT / "launch" / "drone.launch"), f"id:={drone}",
                                    "cell_open_timeout:=600.0", "drop_confirm_timeout:=60.0"])
    ros_processes.start("fake_lockers", [sys.executable, str(FAKES / "fake_lockers.py"), "__name:=fake_lockers",
                                         "_auto_pickup:=0.5"])
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    site.start_fleet(**SIM_PARAMS)
    wait_for(lambda: site.summary is not None and site.summary.drones_idle == len(DRONES), 120,
             "every sim drone idle and healthy in the fleet's eyes")
    return site


def test_deliveries_complete_with_the_real_drones(site):
    ids = {"sim-1": "locker_1", "sim-2": "locker_2", "sim-3": "locker_1"}
    for delivery_id, locker in ids.items():
        site.submit_one(delivery_id, locker, "S")
    finals = [site.wait_state(d, "COMPLETED", 240) for d in ids]
    assert all(f.drop_confirmed and f.attempts == 1 for f in finals)
    assert len({f.drone_id for f in finals}) == 3
    history = [h.state_name for h in site.get("sim-1").history]
    assert "AT_LOCKER" in history and "DROPPING" in history


def test_cells_that_do_not_open_send_the_real_drone_home(site):
    wait_for(lambda: site.summary.drones_idle == len(DRONES), 120, "every drone back and idle")
    rospy.set_param("/fake_lockers/fail_open/locker_2", [1, 2, 3])
    try:
        site.submit_one("sim-fail", "locker_2", "S")
        failed = site.wait_state("sim-fail", "FAILED", 240)
    finally:
        rospy.delete_param("/fake_lockers/fail_open/locker_2")
    assert failed.reason.startswith("cell_failed")
    wait_for(lambda: site.summary.drones_idle == len(DRONES), 180, "the drone home with the parcel")


def test_fleet_killed_mid_flight_under_sim_time_then_the_delivery_completes(site):
    wait_for(lambda: site.summary.drones_idle == len(DRONES), 120, "every drone idle")
    site.submit_one("sim-restart", "locker_1", "M")      # locker_2's S cells are faulty by now
    site.wait_state("sim-restart", "IN_FLIGHT", 120)
    site.kill_fleet()              # the drone flies on and hovers over the pad waiting for its cell
    site.start_fleet(name="fleet_restarted", **SIM_PARAMS)
    done = site.wait_state("sim-restart", "COMPLETED", 240)
    assert done.attempts == 1 and done.drop_confirmed
