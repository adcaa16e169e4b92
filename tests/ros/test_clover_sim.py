"""clover_sim behind the real Clover/MAVROS names, on sim time 5x faster than real time, for two drones."""
import math
import threading
import time

import pytest
from harness import ROOT, wait_for

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/use_sim_time": True}
SPEED = 5.0
LOCKER_1 = (24.0, 8.0, 0.0)   # config/world.yaml: locker_1's pad, marker 11
NAN = math.nan


@pytest.fixture(scope="module")
def sim(ros_processes, rospy_node):
    # arm_time 10 s (sim) keeps an auto_arm call in progress long enough to see "Busy" from a second caller
    ros_processes.start("clover_sim", [
        "rosrun", "skypost", "clover_sim", "__name:=clover_sim", f"_world:={ROOT / 'config/world.yaml'}",
        "_drones:=drone_1,drone_2", f"_speed:={SPEED}", "_arm_time:=10.0",
    ])
    import rospy

    rospy.wait_for_service("/drone_2/get_telemetry", timeout=90)
    wait_for(lambda: rospy.Time.now().to_sec() > 0.5, 60, "the sim clock")
    return rospy


def proxy(name, srv_type):
    import rospy

    rospy.wait_for_service(name, timeout=30)
    return rospy.ServiceProxy(name, srv_type)


def telemetry(drone, frame_id="map"):
    from clover.srv import GetTelemetry

    return proxy(f"/{drone}/get_telemetry", GetTelemetry)(frame_id=frame_id)


def navigate(drone, **request):
    from clover.srv import Navigate

    request = {"yaw": NAN, "speed": 0.0, "frame_id": "map", "auto_arm": False, **request}
    return proxy(f"/{drone}/navigate", Navigate)(**request)


def arrived(drone, tolerance=0.2) -> bool:
    t = telemetry(drone, "navigate_target")
    return math.sqrt(t.x ** 2 + t.y ** 2 + t.z ** 2) < tolerance


def take_off(drone, altitude=2.0):
    if telemetry(drone).armed:
        return
    answer = navigate(drone, x=0, y=0, z=altitude, speed=1.0, frame_id="body", auto_arm=True)
    assert answer.success, answer.message
    wait_for(lambda: arrived(drone), 60, f"{drone} up at {altitude} m")


def test_the_clock_runs_about_speed_times_faster_than_the_wall(sim):
    rospy = sim
    sim_start, wall_start = rospy.Time.now().to_sec(), time.monotonic()
    wait_for(lambda: rospy.Time.now().to_sec() - sim_start >= 5.0, 30, "5 s of sim time")
    wall = time.monotonic() - wall_start
    assert wall < 5.0 / 2.0, f"5 s of sim time took {wall:.2f} s of wall time at speed {SPEED}"


def test_land_is_refused_unless_offboard(sim):
    from std_srvs.srv import Trigger

    answer = proxy("/drone_1/land", Trigger)()
    assert not answer.success and "OFFBOARD" in answer.message
    assert telemetry("drone_1").mode == "POSCTL"


def test_navigate_without_auto_arm_is_refused_on_the_ground(sim):
    answer = navigate("drone_1", x=0, y=0, z=2, frame_id="body", auto_arm=False)
    assert not answer.success and "use auto_arm" in answer.message


def test_a_second_call_during_auto_arm_answers_busy(sim):
    from clover.srv import Navigate

    second = proxy("/drone_2/navigate", Navigate)   # connected beforehand: its calls are quick
    answers = []
    first = threading.Thread(target=lambda: answers.append(
        navigate("drone_2", x=0, y=0, z=2, speed=1.0, frame_id="body", auto_arm=True)))
    first.start()
    seen = []
    deadline = time.monotonic() + 60
    while first.is_alive() and time.monotonic() < deadline:
        # without auto_arm: arriving before the first call, it is refused at once instead of arming itself
        seen.append(second(x=0, y=0, z=3, yaw=NAN, speed=0, frame_id="body", auto_arm=False))
        if seen[-1].message == "Busy":
            break
    first.join(60)
    assert seen and seen[-1].message == "Busy" and not seen[-1].success, f"no Busy answer: {seen}"
    assert answers and answers[0].success, answers
    wait_for(lambda: arrived("drone_2"), 60, "drone_2 at 2 m")


def test_navigate_with_auto_arm_then_arrival_by_navigate_target(sim):
    from mavros_msgs.msg import ExtendedState, State

    take_off("drone_1")
    state = sim.wait_for_message("/drone_1/mavros/state", State, timeout=30)
    assert state.connected and state.armed and state.mode == "OFFBOARD"
    extended = sim.wait_for_message("/drone_1/mavros/extended_state", ExtendedState, timeout=30)
    assert extended.landed_state == ExtendedState.LANDED_STATE_IN_AIR
    assert navigate("drone_1", x=4, y=-3, z=2.5, speed=2.0).success
    assert not arrived("drone_1")
    wait_for(lambda: arrived("drone_1"), 60, "drone_1 at the navigate target")
    t = telemetry("drone_1")
    assert (t.x, t.y, t.z) == pytest.approx((4.0, -3.0, 2.5), abs=0.25)
    assert math.isnan(t.lat) and math.isnan(t.lon), "unknown fields are NaN"


def test_pose_topic_follows_the_drone(sim):
    from geometry_msgs.msg import PoseStamped

    take_off("drone_1")
    pose = sim.wait_for_message("/drone_1/mavros/local_position/pose", PoseStamped, timeout=30)
    t = telemetry("drone_1")
    assert pose.header.frame_id == "map"
    assert math.hypot(pose.pose.position.x - t.x, pose.pose.position.y - t.y) < 0.5


def test_battery_drains_in_flight(sim):
    from sensor_msgs.msg import BatteryState

    take_off("drone_1")
    first = sim.wait_for_message("/drone_1/mavros/battery", BatteryState, timeout=30)
    assert 0.0 < first.percentage <= 1.0 and len(first.cell_voltage) == 4
    wait_for(lambda: sim.wait_for_message("/drone_1/mavros/battery", BatteryState, timeout=30).percentage
             < first.percentage - 0.005, 60, "the battery draining in the air")


def test_camera_over_the_pad_shows_its_marker_and_release_reaches_the_locker(sim):
    import cv2
    import numpy as np
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Bool, String

    take_off("drone_2")
    assert navigate("drone_2", x=LOCKER_1[0] + 0.3, y=LOCKER_1[1] - 0.2, z=3.0, speed=5.0).success
    wait_for(lambda: arrived("drone_2"), 60, "drone_2 hovering over locker_1's pad")
    info = sim.wait_for_message("/drone_2/main_camera/camera_info", CameraInfo, timeout=30)
    assert (info.width, info.height) == (320, 240) and info.K[0] > 0
    detector = cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_250),
                                       cv2.aruco.DetectorParameters())

    def marker_ids():
        image = sim.wait_for_message("/drone_2/main_camera/image_raw", Image, timeout=30)
        assert image.encoding == "mono8" and (image.width, image.height) == (320, 240)
        pixels = np.frombuffer(image.data, dtype=np.uint8).reshape(image.height, image.width)
        _corners, ids, _rejected = detector.detectMarkers(pixels)
        return set() if ids is None else {int(i) for i in ids.flatten()}

    wait_for(lambda: 11 in marker_ids(), 60, "marker 11 in drone_2's camera image")
    descend = navigate("drone_2", x=0, y=0, z=1.5, speed=0.5, frame_id="aruco_11")
    assert descend.success, descend.message
    wait_for(lambda: arrived("drone_2"), 60, "drone_2 1.5 m above the marker")
    over_marker = telemetry("drone_2", "aruco_11")
    assert math.hypot(over_marker.x, over_marker.y) < 0.2 and over_marker.z == pytest.approx(1.5, abs=0.2)

    arrivals = []
    sim.Subscriber("/lockers/locker_1/sim/parcel_arrived", String, arrivals.append, queue_size=5)
    release = sim.Publisher("/drone_2/cargo/release", Bool, queue_size=2, latch=True)
    wait_for(lambda: release.get_num_connections() > 0, 30, "clover_sim subscribed to cargo/release")
    release.publish(Bool(True))
    wait_for(lambda: arrivals, 30, "parcel_arrived on locker_1")
    assert arrivals[0].data == "drone_2"
    release.publish(Bool(False))


def test_fault_injection(sim):
    from skypost.srv import InjectFault

    inject = proxy("/sim/inject_fault", InjectFault)
    bad = inject(drone_id="drone_9", fault="wind", value=1)
    assert not bad.success and "unknown drone" in bad.message
    assert not inject(drone_id="drone_1", fault="gremlins", value=1).success
    take_off("drone_1")
    assert inject(drone_id="drone_1", fault="navigate_refuse", value=1).success
    refused = navigate("drone_1", x=0, y=0, z=0, frame_id="body")
    assert not refused.success and "navigate_refuse" in refused.message
    assert navigate("drone_1", x=0, y=0, z=0, frame_id="body").success

    assert inject(drone_id="drone_1", fault="telemetry_stop", value=5).success
    stopped = telemetry("drone_1")
    assert not stopped.connected and math.isnan(stopped.x)
    from mavros_msgs.msg import State

    wait_for(lambda: not sim.wait_for_message("/drone_1/mavros/state", State, timeout=30).connected, 30,
             "the latched mavros/state saying the link is down")
    assert "State timeout" in navigate("drone_1", x=0, y=0, z=0, frame_id="body").message
    assert telemetry("drone_2").connected, "only drone_1's link is down"
    wait_for(lambda: telemetry("drone_1").connected, 60, "drone_1's telemetry back after 5 s of sim time")


def test_land_disarms_on_the_ground(sim):
    from std_srvs.srv import Trigger

    take_off("drone_1")
    answer = proxy("/drone_1/land", Trigger)()
    assert answer.success, answer.message
    wait_for(lambda: not telemetry("drone_1").armed, 60, "drone_1 landed and disarmed")
    assert telemetry("drone_1").mode == "AUTO.LAND"


def test_diagnostics_report_the_achieved_speed(sim):
    from diagnostic_msgs.msg import DiagnosticArray

    def clock_status():
        array = sim.wait_for_message("/diagnostics", DiagnosticArray, timeout=30)
        return next((s for s in array.status if s.name == "clover_sim: clock"), None)

    status = wait_for(clock_status, 60, "clover_sim's diagnostics")
    values = {kv.key: kv.value for kv in status.values}
    assert values["drones"] == "2" and float(values["target_speed"]) == SPEED
    assert float(values["achieved_speed"]) > 1.0, "faster than real time"
