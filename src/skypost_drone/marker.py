"""Finding the locker pad's ArUco marker in the downward camera image and where it lies (OpenCV, DICT_4X4_250).

Pure: no rospy. The camera looks straight down with the image's top edge towards the drone's nose (Clover's
`main_camera` mounted nadir): camera x = the drone's right, camera y = its back, camera z = down.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

ARUCO_DICT = cv2.aruco.DICT_4X4_250
NAN = float("nan")


@dataclass(frozen=True)
class MarkerSighting:
    marker_id: int
    centre_px: tuple[float, float]
    offset: tuple[float, float]    # metres: (forward, left) of the marker from the point below the camera
    height: float                  # metres from the camera down to the marker
    size_px: float                 # mean edge length in the image
    from_pose: bool                # True: solvePnP on the marker's known size; False: pinhole + altitude

    @property
    def horizontal_error(self) -> float:
        """How far (m) the marker is from the point straight below the camera."""
        return math.hypot(*self.offset)


@lru_cache(maxsize=1)
def _detector() -> cv2.aruco.ArucoDetector:
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    return cv2.aruco.ArucoDetector(dictionary, cv2.aruco.DetectorParameters())


def detect_markers(image: np.ndarray) -> dict[int, np.ndarray]:
    """Every DICT_4X4_250 marker in the image: id → 4×2 corner pixels (top-left, top-right, bottom-right,
    bottom-left of the printed marker)."""
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    corners, ids, _ = _detector().detectMarkers(gray)
    if ids is None:
        return {}
    return {int(i): quad.reshape(4, 2).astype(np.float64) for i, quad in zip(ids.flatten(), corners)}


def _intrinsics(camera_matrix: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    if camera_matrix is not None and camera_matrix.shape == (3, 3) and camera_matrix[0, 0] > 0:
        return camera_matrix.astype(np.float64)
    h, w = shape[:2]   # no calibration yet: assume a 90° horizontal field of view
    return np.array([[w / 2.0, 0.0, w / 2.0], [0.0, w / 2.0, h / 2.0], [0.0, 0.0, 1.0]])


def marker_position_in_camera(corners: np.ndarray, marker_size: float, camera_matrix: np.ndarray,
                              dist_coeffs: np.ndarray | None = None) -> np.ndarray | None:
    """The marker centre in the camera frame (x right, y down, z along the optical axis), by solvePnP on its
    known edge length; None when OpenCV finds no solution."""
    half = marker_size / 2.0
    # IPPE_SQUARE wants this exact corner order: top-left, top-right, bottom-right, bottom-left
    square = np.array([[-half, half, 0.0], [half, half, 0.0], [half, -half, 0.0], [-half, -half, 0.0]])
    dist = np.zeros(5) if dist_coeffs is None or len(dist_coeffs) == 0 else np.asarray(dist_coeffs, np.float64)
    ok, _rvec, tvec = cv2.solvePnP(square, corners.astype(np.float64), camera_matrix, dist,
                                   flags=cv2.SOLVEPNP_IPPE_SQUARE)
    if not ok or not np.all(np.isfinite(tvec)) or tvec[2, 0] <= 0:
        return None
    return tvec.reshape(3)


def find_marker(image: np.ndarray, marker_id: int, camera_matrix: np.ndarray | None, altitude: float,
                marker_size: float = 0.0, dist_coeffs: np.ndarray | None = None) -> MarkerSighting | None:
    """Where marker `marker_id` lies relative to the drone, or None when it is not in the image.

    With `marker_size` (m, edge of the black square) the marker's pose is estimated (solvePnP) and the
    altitude is not needed; without it the pixel centre is scaled by `altitude` (m above the marker).
    """
    corners = detect_markers(image).get(marker_id)
    if corners is None:
        return None
    matrix = _intrinsics(camera_matrix, image.shape)
    cx, cy = corners.mean(axis=0)
    size_px = float(np.mean([np.linalg.norm(corners[i] - corners[(i + 1) % 4]) for i in range(4)]))
    position = marker_position_in_camera(corners, marker_size, matrix, dist_coeffs) if marker_size > 0 else None
    if position is not None:
        x_right, y_back, height = (float(v) for v in position)
        return MarkerSighting(marker_id, (float(cx), float(cy)), (-y_back, -x_right), height, size_px, True)
    if not altitude > 0:
        return None
    fx, fy, ppx, ppy = matrix[0, 0], matrix[1, 1], matrix[0, 2], matrix[1, 2]
    forward = (ppy - cy) / fy * altitude
    left = (ppx - cx) / fx * altitude
    return MarkerSighting(marker_id, (float(cx), float(cy)), (float(forward), float(left)), float(altitude),
                          size_px, False)


def marker_in_map(drone_xyz: tuple[float, float, float], drone_yaw: float,
                  sighting: MarkerSighting) -> tuple[float, float, float]:
    """The marker's map position from the drone's pose (ENU, yaw from +x) and a sighting."""
    forward, left = sighting.offset
    c, s = math.cos(drone_yaw), math.sin(drone_yaw)
    x, y, z = drone_xyz
    return (x + forward * c - left * s, y + forward * s + left * c, z - sighting.height)


def yaw_of(qx: float, qy: float, qz: float, qw: float) -> float:
    """Heading (rad, ENU) of an orientation quaternion."""
    return math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
