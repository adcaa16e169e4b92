"""Sim drones fly whole Deliver goals, and each failure path ends in its expected terminal state and outcome.

clover_sim runs at SPEED x real time and owns /clock; this test plays the fleet (goals, drop_control, cancel).
drone_1 and drone_2 descend in Clover's aruco_<id> frame, drone_3 on its own marker pose (approach_frame:=map).
"""
import itertools
import math

import pytest
from harness import ROOT, wait_for

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/use_sim_time": True}
SPEED = 10.0
WORLD = ROOT / "config" / "world.yaml"
PAD = (24.0, 8.0, 0.0)                 # locker_1, marker 11
BASES = {"drone_1": (0.0, -2.0, 0.0), "drone_2": (2.0, -2.0, 0.0), "drone_3": (-2.0, -2.0, 0.0)}
SUCCEEDED, ABORTED, REJECTED, PREEMPTED = 3, 4, 5, 2   # actionlib_msgs/GoalStatus


@pytest.fixture(scope="module")
def site(ros_processes, rospy_node):
    ros_processes.start("clover_sim", [
        "rosrun", "skypost", "clover_sim", f"_world:={WORLD}", f"_speed:={SPEED}",
        "_drones:=drone_1,drone_2,drone_3",
    ])
    for drone in BASES:
        ros_processes.start(drone, [
            "roslaunch", "skypost", "drone.launch", f"id:={drone}", f"world:={WORLD}", "navigation_retries:=2",
            "marker_search_timeout:=4.0", "cell_open_timeout:=30.0", "drop_confirm_timeout:=10.0",
            f"approach_frame:={'map' if drone == 'drone_3' else 'aruco'}",
        ])
    import actionlib
    import rospy
    from skypost.msg import DeliverAction, DroneState

    clients = {}
    for drone in BASES:
        client = actionlib.SimpleActionClient(f"/{drone}/deliver", DeliverAction)
        assert client.wait_for_server(rospy.Duration(90)), f"{drone} action server"
        clients[drone] = client
    for drone in BASES:   # the node has a position and a connected autopilot before it takes goals
        wait_for(lambda d=drone: rospy.wait_for_message(f"/{d}/state", DroneState, timeout=5).fcu_connected, 60,
                 f"{drone} connected")
    return clients


def goal(delivery_id: str, drone: str, marker_id: int = 11):
    from geometry_msgs.msg import Point
    from skypost.msg import DeliverGoal

    return DeliverGoal(delivery_id=delivery_id, locker_id="locker_1", marker_id=marker_id, target=Point(*PAD),
                       cell_id=3, base_id="base_1", base=Point(*BASES[drone]))


class Watcher:
    """Records the mission states and the last feedback of one goal."""

    def __init__(self):
        self.states = []
        self.last = None

    def __call__(self, feedback):
        self.last = feedback
        if not self.states or self.states[-1] != feedback.mission_state:
            self.states.append(feedback.mission_state)

    def away_from_base(self, metres: float) -> bool:
        from skypost.msg import DroneState

        return (self.last is not None and self.last.mission_state == DroneState.NAVIGATING
                and math.hypot(self.last.pose.position.x, self.last.pose.position.y) > metres)


def drop_control(drone: str, delivery_id: str, event: int):
    import rospy
    from skypost.srv import DropControl

    rospy.wait_for_service(f"/{drone}/drop_control", timeout=10)
    return rospy.ServiceProxy(f"/{drone}/drop_control", DropControl)(delivery_id=delivery_id, event=event)


def inject(drone: str, fault: str, value: float):
    import rospy
    from skypost.srv import InjectFault

    rospy.wait_for_service("/sim/inject_fault", timeout=10)
    assert rospy.ServiceProxy("/sim/inject_fault", InjectFault)(drone_id=drone, fault=fault, value=value).success


def result_of(client, timeout=180.0):
    wait_for(lambda: client.simple_state == 2 and client.get_result() is not None, timeout, "the Deliver result")
    return client.get_result()


def state_of(drone: str):
    import rospy
    from skypost.msg import DroneState

    return rospy.wait_for_message(f"/{drone}/state", DroneState, timeout=10)


def over_the_pad(drone: str) -> float:
    p = state_of(drone).pose.position
    return math.hypot(p.x - PAD[0], p.y - PAD[1])


def deliver_until_waiting_drop(client, drone: str, delivery_id: str) -> Watcher:
    from skypost.msg import DroneState

    watcher = Watcher()
    client.send_goal(goal(delivery_id, drone), feedback_cb=watcher)
    wait_for(lambda: DroneState.WAITING_DROP in watcher.states, 120, f"{drone} hovering over the pad")
    assert DroneState.APPROACH in watcher.states
    return watcher


def test_whole_delivery_with_a_second_goal_rejected_meanwhile(site):
    import actionlib
    import rospy
    from skypost.msg import DeliverAction, DeliverResult, DroneState
    from skypost.srv import DropControlRequest
    from std_msgs.msg import String

    arrivals = []
    rospy.Subscriber("/lockers/locker_1/sim/parcel_arrived", String, arrivals.append, queue_size=5)
    client = site["drone_1"]
    watcher = deliver_until_waiting_drop(client, "drone_1", "d-ok")
    assert over_the_pad("drone_1") < 0.3, "the marker put the drone over the pad"
    assert state_of("drone_1").delivery_id == "d-ok"

    intruder = actionlib.SimpleActionClient("/drone_1/deliver", DeliverAction)
    assert intruder.wait_for_server(rospy.Duration(10))
    intruder.send_goal(goal("d-other", "drone_1"))
    wait_for(lambda: intruder.get_state() == REJECTED, 30, "the second goal rejected")
    assert "busy with delivery d-ok" in intruder.get_goal_status_text()

    refused = drop_control("drone_1", "someone-else", DropControlRequest.CELL_OPENED)
    assert not refused.success and "not the active one" in refused.message
    early = drop_control("drone_1", "d-ok", DropControlRequest.DROP_CONFIRMED)
    assert not early.success and "not expected in WAITING_DROP" in early.message
    assert drop_control("drone_1", "d-ok", DropControlRequest.CELL_OPENED).success
    wait_for(lambda: arrivals, 30, "the parcel released over locker_1")
    assert arrivals[0].data == "drone_1"
    assert drop_control("drone_1", "d-ok", DropControlRequest.DROP_CONFIRMED).success
    result = result_of(client)
    assert client.get_state() == SUCCEEDED
    assert result.outcome == DeliverResult.DELIVERED and result.parcel_released
    assert result.final_state == DroneState.COMPLETED
    # PREFLIGHT passes within one loop step, before the first feedback
    order = [DroneState.TAKEOFF, DroneState.NAVIGATING, DroneState.APPROACH,
             DroneState.WAITING_DROP, DroneState.DROPPED, DroneState.RETURNING, DroneState.LANDING]
    assert [s for s in watcher.states if s in order] == order
    state = state_of("drone_1")
    assert state.mission_state == DroneState.IDLE and not state.armed and state.delivery_id == ""
    home = BASES["drone_1"]
    assert math.hypot(state.pose.position.x - home[0], state.pose.position.y - home[1]) < 0.5


def test_a_confirmation_later_than_the_drones_wait_still_counts(site):
    from skypost.msg import DeliverResult, DroneState
    from skypost.srv import DropControlRequest

    client = site["drone_1"]
    watcher = deliver_until_waiting_drop(client, "drone_1", "d-late")
    assert drop_control("drone_1", "d-late", DropControlRequest.CELL_OPENED).success
    wait_for(lambda: DroneState.RETURNING in watcher.states, 60, "the drone giving up waiting for a confirmation")
    late = drop_control("drone_1", "d-late", DropControlRequest.DROP_CONFIRMED)
    assert late.success, late.message
    result = result_of(client)
    assert result.outcome == DeliverResult.DELIVERED and result.final_state == DroneState.COMPLETED
    assert result.message.startswith("drop_confirmed in "), result.message


def test_low_battery_in_flight_returns_with_parcel(site):
    from skypost.msg import DeliverResult, DroneState

    client, watcher = site["drone_1"], Watcher()
    client.send_goal(goal("d-lowbat", "drone_1"), feedback_cb=watcher)
    wait_for(lambda: watcher.away_from_base(8.0), 60, "cruising, 8 m out")
    # Earlier tests flew drone_1, so sag to a known level: below low_battery (0.25), well above critical (0.12)
    charge = state_of("drone_1").battery_percentage
    assert charge > 0.5, f"drone_1 should start this test charged, has {charge}"
    inject("drone_1", "battery_sag", charge - 0.2)
    result = result_of(client)
    assert result.outcome == DeliverResult.RETURNED_WITH_PARCEL and not result.parcel_released
    assert result.final_state == DroneState.COMPLETED and "low battery" in result.message
    assert DroneState.RETURNING in watcher.states and DroneState.APPROACH not in watcher.states


def test_navigation_refused_three_times_aborts(site):
    from skypost.msg import DeliverResult, DroneState

    inject("drone_2", "navigate_refuse", 3)
    client = site["drone_2"]
    client.send_goal(goal("d-refused", "drone_2"))
    result = result_of(client, 60)
    assert client.get_state() == ABORTED
    assert result.outcome == DeliverResult.ABORTED and result.final_state == DroneState.ABORTED
    assert not result.parcel_released and "refused" in result.message
    assert state_of("drone_2").mission_state == DroneState.IDLE, "never left the ground: ready again"


def test_marker_never_seen_returns_with_parcel(site):
    from skypost.msg import DeliverResult, DroneState

    inject("drone_2", "hide_marker", 11)
    try:
        client, watcher = site["drone_2"], Watcher()
        client.send_goal(goal("d-nomarker", "drone_2"), feedback_cb=watcher)
        result = result_of(client)
    finally:
        inject("drone_2", "hide_marker", -1)
    assert result.outcome == DeliverResult.RETURNED_WITH_PARCEL and not result.parcel_released
    assert result.final_state == DroneState.COMPLETED
    assert "marker not found (attempt 2/2)" in result.message
    assert DroneState.APPROACH in watcher.states and DroneState.WAITING_DROP not in watcher.states


def test_no_cell_returns_with_parcel(site):
    from skypost.msg import DeliverResult, DroneState
    from skypost.srv import DropControlRequest

    client = site["drone_2"]
    deliver_until_waiting_drop(client, "drone_2", "d-nocell")
    assert drop_control("drone_2", "d-nocell", DropControlRequest.CELL_FAILED).success
    result = result_of(client)
    assert result.outcome == DeliverResult.RETURNED_WITH_PARCEL and not result.parcel_released
    assert result.final_state == DroneState.COMPLETED


def test_unknown_battery_never_takes_off(site):
    from skypost.msg import DeliverResult, DroneState

    inject("drone_2", "battery_unknown", 1)
    try:
        wait_for(lambda: not state_of("drone_2").battery_known, 30, "the battery reported as unknown")
        state = state_of("drone_2")
        assert math.isnan(state.battery_percentage), "unknown is not full"
        client = site["drone_2"]
        client.send_goal(goal("d-nobattery", "drone_2"))
        result = result_of(client, 60)
    finally:
        inject("drone_2", "battery_unknown", 0)
    assert result.outcome == DeliverResult.ABORTED and result.final_state == DroneState.ABORTED
    assert "battery state unknown" in result.message
    assert not state_of("drone_2").armed


def test_goals_that_do_not_match_the_world_are_rejected(site):
    client = site["drone_2"]
    client.send_goal(goal("d-wrong-marker", "drone_2", marker_id=12))
    wait_for(lambda: client.get_state() == REJECTED, 30, "the goal rejected")
    assert "not the marker of locker_1" in client.get_goal_status_text()


def test_map_approach_delivery_unconfirmed(site):
    from skypost.msg import DeliverResult, DroneState
    from skypost.srv import DropControlRequest

    client = site["drone_3"]
    deliver_until_waiting_drop(client, "drone_3", "d-map")
    assert over_the_pad("drone_3") < 0.3, "its own marker pose put the drone over the pad"
    assert drop_control("drone_3", "d-map", DropControlRequest.CELL_OPENED).success
    wait_for(lambda: state_of("drone_3").mission_state == DroneState.DROPPED, 30, "the parcel released")
    assert drop_control("drone_3", "d-map", DropControlRequest.DROP_UNCONFIRMED).success
    result = result_of(client)
    assert client.get_state() == SUCCEEDED
    assert result.outcome == DeliverResult.DELIVERED_UNCONFIRMED and result.parcel_released
    assert result.final_state == DroneState.COMPLETED


def test_cancel_mid_flight_returns_home(site):
    from skypost.msg import DeliverResult, DroneState

    client, watcher = site["drone_3"], Watcher()
    client.send_goal(goal("d-cancel", "drone_3"), feedback_cb=watcher)
    wait_for(lambda: watcher.away_from_base(8.0), 60, "cruising, 8 m out")
    client.cancel_goal()
    result = result_of(client)
    assert client.get_state() == PREEMPTED
    assert result.outcome == DeliverResult.CANCELLED and result.final_state == DroneState.COMPLETED
    assert not result.parcel_released
    assert DroneState.RETURNING in watcher.states and DroneState.APPROACH not in watcher.states
    state = state_of("drone_3")
    assert state.mission_state == DroneState.IDLE and not state.armed


def test_state_heartbeat_and_diagnostics_while_idle(site):
    import rospy
    from diagnostic_msgs.msg import DiagnosticArray
    from skypost.msg import DroneState

    stamps = []
    sub = rospy.Subscriber("/drone_1/state", DroneState, lambda m: stamps.append(m.header.stamp.to_sec()),
                           queue_size=10)
    try:
        wait_for(lambda: len(stamps) >= 4, 30, "state messages")
    finally:
        sub.unregister()
    gaps = [b - a for a, b in itertools.pairwise(stamps[1:])]   # the first may be the latched one
    assert gaps and max(gaps) <= 1.0, f"state at >= 1 Hz of ROS time, gaps {gaps}"

    def drone_status():
        msg = rospy.wait_for_message("/diagnostics", DiagnosticArray, timeout=5)
        return next((s for s in msg.status if s.name == "skypost/drone_1"), None)

    status = wait_for(drone_status, 30, "a diagnostics status for drone_1")
    values = {kv.key: kv.value for kv in status.values}
    assert values["mission_state"] == "IDLE" and int(values["clover_calls"]) > 0
