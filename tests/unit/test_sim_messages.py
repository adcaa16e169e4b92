"""The messages clover_sim publishes: MAVROS conventions, camera layout, telemetry response."""
import io
import math

import numpy as np
import pytest

from skypost_sim import messages
from skypost_sim.camera import CameraModel
from skypost_sim.clover import CloverApi
from skypost_sim.simulation import DroneSpec, Simulation

pytestmark = pytest.mark.unit
STAMP = messages.stamp_of(12.5)


def flying_sim() -> Simulation:
    sim = Simulation([DroneSpec("drone_1", (1.0, 2.0, 0.0), (0.0, 0.0, 0.0))], {11: (5.0, 0.0, 0.0)},
                     self_stepping=True)
    CloverApi(sim, 0).navigate(0, 0, 2, math.pi / 2, 1.0, "body", auto_arm=True)
    sim.advance(5.0)
    return sim


def serialized_size(msg) -> int:
    buffer = io.BytesIO()
    msg.serialize(buffer)
    return len(buffer.getvalue())


def test_pose_state_and_extended_state():
    sim = flying_sim()
    snap = sim.snapshot()
    pose = messages.pose(snap, 0, STAMP)
    assert pose.header.frame_id == "map" and pose.header.stamp.to_sec() == 12.5
    assert (pose.pose.position.x, pose.pose.position.y) == pytest.approx((1.0, 2.0))
    assert 2 * math.atan2(pose.pose.orientation.z, pose.pose.orientation.w) == pytest.approx(math.pi / 2, abs=0.01)
    state = messages.state(True, "OFFBOARD", STAMP)
    assert state.connected and state.guided and state.system_status == 4
    assert not messages.disconnected_state(STAMP).connected
    assert messages.extended_state(messages.landed_state(snap, 0), STAMP).landed_state == 2   # IN_AIR
    CloverApi(sim, 0).land()
    sim.advance(0.5)
    assert messages.landed_state(sim.snapshot(), 0) == 4   # LANDING
    sim.advance(5.0)
    assert messages.landed_state(sim.snapshot(), 0) == 1   # ON_GROUND


def test_battery_known_and_unknown():
    known = messages.battery((0.8, 16.0, [4.0] * 4), STAMP)
    assert known.percentage == pytest.approx(0.8) and len(known.cell_voltage) == 4
    unknown = messages.battery((-0.01, math.nan, []), STAMP)
    assert unknown.percentage == pytest.approx(-0.01) and unknown.cell_voltage == []
    assert serialized_size(unknown) > 0


def test_image_and_camera_info():
    picture = np.arange(240 * 320, dtype=np.uint32).astype(np.uint8).reshape(240, 320)
    image = messages.image(picture, STAMP, "drone_1/main_camera_optical")
    assert (image.width, image.height, image.step, image.encoding) == (320, 240, 320, "mono8")
    decoded = np.frombuffer(image.data, dtype=np.uint8).reshape(240, 320)
    assert np.array_equal(decoded, picture)
    info = messages.camera_info(CameraModel(), STAMP, "drone_1/main_camera_optical")
    assert info.K[0] == pytest.approx(160.0) and info.K[2] == 160.0 and info.P[10] == 1.0
    assert serialized_size(info) > 0 and serialized_size(image) > 320 * 240


def test_compressed_image_is_a_jpeg_of_the_picture():
    import cv2

    picture = np.zeros((240, 320), dtype=np.uint8)
    picture[60:180, 80:240] = 255            # a white square: survives JPEG within a few grey levels
    jpeg = messages.compressed_image(picture, STAMP, "drone_1/main_camera_optical")
    assert jpeg.format == "mono8; jpeg compressed mono8" and jpeg.header.stamp == STAMP
    assert bytes(jpeg.data[:2]) == b"\xff\xd8" and len(jpeg.data) < picture.size / 4
    decoded = cv2.imdecode(np.frombuffer(jpeg.data, dtype=np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded.shape == picture.shape
    assert np.abs(decoded.astype(int) - picture.astype(int)).mean() < 4


def test_telemetry_response_keeps_nan_for_unknown_fields():
    response = messages.telemetry_response(CloverApi(flying_sim(), 0).telemetry("map"))
    assert response.connected and response.mode == "OFFBOARD" and response.z == pytest.approx(2.0, abs=0.05)
    assert math.isnan(response.lat) and math.isnan(response.alt)
    assert serialized_size(response) > 0
