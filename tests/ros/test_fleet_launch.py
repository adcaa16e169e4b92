"""launch/fleet.launch starts the fleet manager with its params and the /fleet services."""
import pytest
import rospy
from fakes.site import STARTUP, WORLD
from harness import ROOT, wait_for
from skypost.srv import ListDeliveries

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}


def test_launch_file_starts_the_fleet_manager(rospy_node, ros_processes, tmp_path):
    # full path: `roslaunch skypost fleet.launch` trips over the catkin_ws/src/skypost -> ../.. link loop
    ros_processes.start("fleet_launch", ["roslaunch", str(ROOT / "launch" / "fleet.launch"),
                                         f"db_path:={tmp_path / 'fleet.sqlite'}", "drone_count:=2",
                                         "auto_load:=false", "cruise_speed:=4.5"])
    wait_for(lambda: rospy.has_param("/fleet_manager/cruise_speed"), STARTUP, "the fleet's params")
    rospy.wait_for_service("/fleet/list_deliveries", timeout=STARTUP)
    assert rospy.get_param("/fleet_manager/auto_load") is False
    assert rospy.get_param("/fleet_manager/cruise_speed") == 4.5
    resp = rospy.ServiceProxy("/fleet/list_deliveries", ListDeliveries)([], 0)
    assert resp.success and resp.deliveries == []
    log = wait_for(lambda: "fleet: ready" in ros_processes.log_text("fleet_launch")
                   and ros_processes.log_text("fleet_launch"), 60, "the ready line")
    assert "drones ['drone_1', 'drone_2']" in log
