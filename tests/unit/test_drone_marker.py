"""Marker detection and pose estimation on synthetic downward-camera images rendered here with cv2.aruco."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from skypost_drone.marker import MarkerSighting, find_marker, marker_in_map, yaw_of

pytestmark = pytest.mark.unit
W, H, F = 640, 480, 500.0
K = np.array([[F, 0.0, W / 2.0], [0.0, F, H / 2.0], [0.0, 0.0, 1.0]])
SIZE = 0.5   # m, edge of the black square


def texture(marker_id: int, pixels: int = 240) -> tuple[np.ndarray, float]:
    """The printed marker with a white quiet zone; also the ratio of the whole print to the black square."""
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_250)
    inner = cv2.aruco.generateImageMarker(dictionary, marker_id, pixels)
    border = pixels // 6
    return (cv2.copyMakeBorder(inner, border, border, border, border, cv2.BORDER_CONSTANT, value=255),
            (pixels + 2 * border) / pixels)


def render(markers: list[tuple[int, float, float, float]], height: float, noise: float = 0.0,
           seed: int = 0) -> np.ndarray:
    """A nadir camera `height` m above flat ground; each marker is (id, forward m, left m, yaw rad) from the
    point below the camera. Image top = forward, image right = the drone's right (not mirrored)."""
    image = np.full((H, W), 120, dtype=np.uint8)
    for marker_id, forward, left, yaw in markers:
        tex, ratio = texture(marker_id)
        half = SIZE / 2.0 * ratio
        c, s = math.cos(yaw), math.sin(yaw)
        corners = []
        # texture top-left, top-right, bottom-right, bottom-left: top towards forward, left towards left
        for df, dl in ((half, half), (half, -half), (-half, -half), (-half, half)):
            f, lft = forward + df * c - dl * s, left + df * s + dl * c
            corners.append((W / 2.0 + F * (-lft) / height, H / 2.0 + F * (-f) / height))
        side = tex.shape[0] - 1
        src = np.float32([[0, 0], [side, 0], [side, side], [0, side]])
        warp = cv2.getPerspectiveTransform(src, np.float32(corners))
        drawn = cv2.warpPerspective(tex, warp, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
        mask = cv2.warpPerspective(np.full_like(tex, 255), warp, (W, H), flags=cv2.INTER_NEAREST, borderValue=0)
        image[mask > 0] = drawn[mask > 0]
    if noise:
        rng = np.random.default_rng(seed)
        image = np.clip(image + rng.normal(0.0, noise, image.shape), 0, 255).astype(np.uint8)
    return image


@pytest.mark.parametrize("forward, left, height, yaw", [
    (0.0, 0.0, 2.0, 0.0),
    (0.6, -0.4, 3.0, 0.5),
    (-0.8, 0.3, 4.0, 2.0),
    (0.2, 0.5, 1.5, -1.0),
    (1.5, 1.2, 5.0, math.pi),
])
def test_pose_from_the_marker_size(forward, left, height, yaw):
    image = render([(11, forward, left, yaw)], height)
    sighting = find_marker(image, 11, K, altitude=math.nan, marker_size=SIZE)
    assert sighting is not None and sighting.from_pose
    tolerance = 0.02 + 0.01 * height
    assert sighting.offset[0] == pytest.approx(forward, abs=tolerance)
    assert sighting.offset[1] == pytest.approx(left, abs=tolerance)
    assert sighting.height == pytest.approx(height, rel=0.03)
    assert sighting.horizontal_error == pytest.approx(math.hypot(forward, left), abs=tolerance)


def test_without_a_marker_size_the_altitude_scales_the_pixel_offset():
    image = render([(11, 0.5, -0.5, 0.3)], 3.0)
    sighting = find_marker(image, 11, K, altitude=3.0)
    assert sighting is not None and not sighting.from_pose
    assert sighting.offset == pytest.approx((0.5, -0.5), abs=0.05)
    assert sighting.height == 3.0
    assert find_marker(image, 11, K, altitude=math.nan) is None, "no size and no altitude: no distance"


def test_picks_the_requested_marker_among_several():
    image = render([(11, 0.8, 0.8, 0.0), (12, -0.7, -0.6, 1.0)], 4.0)
    eleven = find_marker(image, 11, K, 0.0, SIZE)
    twelve = find_marker(image, 12, K, 0.0, SIZE)
    assert eleven is not None and eleven.offset == pytest.approx((0.8, 0.8), abs=0.07)
    assert twelve is not None and twelve.offset == pytest.approx((-0.7, -0.6), abs=0.07)
    assert find_marker(image, 13, K, 4.0, SIZE) is None


def test_nothing_in_a_blank_or_colour_image_is_a_miss():
    assert find_marker(np.full((H, W), 120, np.uint8), 11, K, 2.0, SIZE) is None
    colour = cv2.cvtColor(render([(11, 0.0, 0.3, 0.0)], 2.0), cv2.COLOR_GRAY2BGR)
    sighting = find_marker(colour, 11, K, 2.0, SIZE)
    assert sighting is not None and sighting.offset[1] == pytest.approx(0.3, abs=0.05)


def test_sensor_noise_is_tolerated():
    image = render([(11, -0.3, 0.4, 0.7)], 3.0, noise=10.0, seed=3)
    sighting = find_marker(image, 11, K, 3.0, SIZE)
    assert sighting is not None
    assert sighting.offset == pytest.approx((-0.3, 0.4), abs=0.08)


def test_uncalibrated_camera_assumes_a_90_degree_view():
    # the test camera is not 90°: the uncalibrated guess is off in scale but right in direction
    image = render([(11, 1.0, 0.0, 0.0)], 3.0)
    sighting = find_marker(image, 11, None, 3.0, SIZE)
    assert sighting is not None and sighting.offset[0] > 0.5 and abs(sighting.offset[1]) < 0.1


def test_map_position_rotates_the_body_offset_by_the_heading():
    sighting = MarkerSighting(11, (0.0, 0.0), (1.0, 0.5), 2.0, 40.0, True)
    x, y, z = marker_in_map((10.0, 5.0, 2.5), math.pi / 2, sighting)   # nose towards +y
    assert (x, y, z) == pytest.approx((9.5, 6.0, 0.5))
    assert marker_in_map((0.0, 0.0, 2.0), 0.0, sighting) == pytest.approx((1.0, 0.5, 0.0))


@pytest.mark.parametrize("yaw", [0.0, 0.7, -2.5, math.pi / 2])
def test_yaw_of_a_quaternion(yaw):
    assert yaw_of(0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)) == pytest.approx(yaw)
