"""The drones' downward camera: projection, rendering, and the geometric visibility that gates aruco_<id>."""
import math

import numpy as np
import pytest

from skypost_sim.camera import CameraModel, detect, project, render, visible_markers

pytestmark = pytest.mark.unit
CAMERA = CameraModel()
MARKERS = {11: (10.0, 0.0, 0.0), 12: (14.0, 3.0, 0.0), 100: (0.0, 0.0, 0.0)}


def test_renders_a_detectable_marker_where_the_pinhole_model_puts_it():
    drone, yaw = np.array([10.4, -0.3, 3.0]), 0.7
    found = detect(render(CAMERA, drone, yaw, MARKERS))
    assert set(found) == {11}
    expected = project(CAMERA, drone, yaw, np.array([MARKERS[11]]))[0]
    assert found[11].mean(axis=0) == pytest.approx(expected, abs=1.0)


def test_the_image_top_is_the_drone_nose_and_markers_print_north_up():
    # facing +y (north) the marker looks as printed: its top-left corner at the image's top-left
    corners = detect(render(CAMERA, np.array([10.0, 0.0, 3.0]), math.pi / 2, MARKERS))[11]
    top_left, _top_right, bottom_right, _bottom_left = corners
    assert top_left[0] < bottom_right[0] and top_left[1] < bottom_right[1]
    # a marker ahead of the drone appears in the upper half
    ahead = project(CAMERA, np.array([8.0, 0.0, 3.0]), 0.0, np.array([MARKERS[11]]))[0]
    assert ahead[1] < CAMERA.height / 2 and ahead[0] == pytest.approx(CAMERA.width / 2)


def test_hidden_markers_and_markers_out_of_view_are_not_drawn():
    assert detect(render(CAMERA, np.array([10.0, 0.0, 3.0]), 0.0, MARKERS, frozenset({11}))) == {}
    assert detect(render(CAMERA, np.array([30.0, 0.0, 3.0]), 0.0, MARKERS)) == {}
    flat = render(CAMERA, np.array([10.0, 0.0, 0.1]), 0.0, MARKERS)
    assert flat.shape == (240, 320) and flat.dtype == np.uint8 and detect(flat) == {}


def test_visibility_for_many_drones_at_once_matches_one_by_one():
    rng = np.random.default_rng(7)
    positions = np.column_stack([rng.uniform(5, 15, 50), rng.uniform(-3, 5, 50), rng.uniform(0.1, 8, 50)])
    yaws = rng.uniform(-math.pi, math.pi, 50)
    centres = np.array(list(MARKERS.values()))
    together = visible_markers(CAMERA, positions, yaws, centres)
    for i in range(50):
        assert np.array_equal(together[i], visible_markers(CAMERA, positions[i:i + 1], yaws[i:i + 1], centres)[0])
    assert together.any() and not together.all()


def test_geometric_visibility_agrees_with_opencv_detection():
    """The sim lets aruco_<id> frames be used when the geometry says the camera sees the marker: that must be
    what cv2.aruco finds in the rendered picture, apart from a thin band at the detection limits."""
    rng = np.random.default_rng(1)
    centre = np.array([MARKERS[11]])
    agree, clear_cases = 0, 0
    samples = 400
    for _ in range(samples):
        z = rng.uniform(0.5, 10.0)
        drone = np.array([10.0 + rng.uniform(-1, 1) * z * 1.2, rng.uniform(-1, 1) * z, z])
        yaw = rng.uniform(-math.pi, math.pi)
        geometric = bool(visible_markers(CAMERA, drone[None], np.array([yaw]), centre)[0, 0])
        detected = 11 in detect(render(CAMERA, drone, yaw, {11: MARKERS[11]}))
        agree += geometric == detected
        strict = CameraModel(edge_margin_px=6.0, min_marker_px=16.0)
        loose = CameraModel(edge_margin_px=-3.0, min_marker_px=5.0)
        if visible_markers(strict, drone[None], np.array([yaw]), centre)[0, 0]:
            clear_cases += 1
            assert detected, f"clearly in view but not detected: drone {drone}, yaw {yaw}"
        elif not visible_markers(loose, drone[None], np.array([yaw]), centre)[0, 0]:
            clear_cases += 1
            assert not detected, f"clearly out of view but detected: drone {drone}, yaw {yaw}"
    assert agree / samples >= 0.9
    assert clear_cases > samples / 2


def test_camera_info_matrices():
    k = CAMERA.matrix()
    assert k[0, 0] == pytest.approx(160.0) and k[0, 2] == 160.0 and k[1, 2] == 120.0, "90° across 320 px"
    assert CAMERA.projection()[:3] == [k[0, 0], 0.0, k[0, 2]]
    with pytest.raises(ValueError, match="fov"):
        CameraModel(fov_deg=200).validate()
