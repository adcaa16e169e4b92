"""The ROS messages clover_sim publishes and answers, built from the simulation's state. No rospy (message
classes and genpy only), so the benchmark measures the same construction work the node does."""
from __future__ import annotations

import math

import cv2
import numpy as np
from clover.srv import GetTelemetryResponse
from genpy import Time
from geometry_msgs.msg import PoseStamped
from mavros_msgs.msg import ExtendedState, State
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import BatteryState, CameraInfo, CompressedImage, Image

from .camera import CameraModel
from .clover import Telemetry
from .simulation import Snapshot

MAV_STATE_STANDBY, MAV_STATE_ACTIVE = 3, 4
IDENTITY_3X3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def stamp_of(sim_time: float) -> Time:
    return Time.from_sec(sim_time)


def clock(stamp: Time) -> Clock:
    return Clock(clock=stamp)


def pose(snap: Snapshot, i: int, stamp: Time) -> PoseStamped:
    """mavros/local_position/pose: ENU in `map`, level attitude with the drone's heading."""
    msg = PoseStamped()
    msg.header.stamp, msg.header.frame_id = stamp, "map"
    p = msg.pose.position
    p.x, p.y, p.z = (float(v) for v in snap.position[i])
    half_yaw = float(snap.yaw[i]) / 2.0
    msg.pose.orientation.z, msg.pose.orientation.w = math.sin(half_yaw), math.cos(half_yaw)
    return msg


def state(armed: bool, mode: str, stamp: Time) -> State:
    msg = State(connected=True, armed=armed, guided=mode == "OFFBOARD", manual_input=False, mode=mode,
                system_status=MAV_STATE_ACTIVE if armed else MAV_STATE_STANDBY)
    msg.header.stamp = stamp
    return msg


def disconnected_state(stamp: Time) -> State:
    """What MAVROS publishes when the FCU's heartbeat stops."""
    msg = State(connected=False, armed=False, guided=False, manual_input=False, mode="", system_status=0)
    msg.header.stamp = stamp
    return msg


def battery(reading: tuple[float, float, list[float]], stamp: Time) -> BatteryState:
    """mavros/battery; an unknown battery is sent as MAVROS sends it (percentage -0.01, no cells)."""
    percentage, voltage, cells = reading
    msg = BatteryState(voltage=voltage, percentage=percentage, cell_voltage=cells, present=True,
                       current=math.nan, charge=math.nan, capacity=math.nan, design_capacity=math.nan,
                       power_supply_status=BatteryState.POWER_SUPPLY_STATUS_DISCHARGING,
                       power_supply_technology=BatteryState.POWER_SUPPLY_TECHNOLOGY_LIPO)
    msg.header.stamp = stamp
    return msg


def landed_state(snap: Snapshot, i: int) -> int:
    if snap.on_ground[i]:
        return ExtendedState.LANDED_STATE_ON_GROUND
    if snap.landing[i]:
        return ExtendedState.LANDED_STATE_LANDING
    return ExtendedState.LANDED_STATE_IN_AIR


def extended_state(landed: int, stamp: Time) -> ExtendedState:
    msg = ExtendedState(vtol_state=ExtendedState.VTOL_STATE_MC, landed_state=landed)
    msg.header.stamp = stamp
    return msg


def image(picture: np.ndarray, stamp: Time, frame_id: str) -> Image:
    """A mono8 picture (cheaper than Clover's bgr8; cv_bridge converts either)."""
    msg = Image(height=picture.shape[0], width=picture.shape[1], encoding="mono8", is_bigendian=0,
                step=picture.shape[1], data=picture.tobytes())
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def compressed_image(picture: np.ndarray, stamp: Time, frame_id: str, quality: int = 80) -> CompressedImage:
    """The picture as image_transport's `compressed` plugin sends it: JPEG, with its format string."""
    ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for a {picture.shape} picture")
    msg = CompressedImage(format="mono8; jpeg compressed mono8", data=jpeg.tobytes())
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def camera_info(camera: CameraModel, stamp: Time, frame_id: str) -> CameraInfo:
    msg = CameraInfo(width=camera.width, height=camera.height, distortion_model="plumb_bob", D=[0.0] * 5,
                     K=[float(v) for v in camera.matrix().flatten()], R=IDENTITY_3X3, P=camera.projection())
    msg.header.stamp, msg.header.frame_id = stamp, frame_id
    return msg


def telemetry_response(telemetry: Telemetry) -> GetTelemetryResponse:
    return GetTelemetryResponse(**vars(telemetry))   # not asdict(): it deep-copies, and this is a hot path
