"""A downward-looking pinhole camera per drone: which ground ArUco markers (DICT_4X4_250) it can see, and the
picture it takes (OpenCV). Pure: no ROS.

Camera frame (Clover's `main_camera` mounted nadir): x to the drone's right, y to its back, z down; the image's top
edge faces the drone's nose. Markers lie flat on the ground, printed with their top edge towards map +y, so a
marker's frame has the map's axes (x east, y north, z up) — the same convention as `aruco_map`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

ARUCO_DICT = cv2.aruco.DICT_4X4_250
GROUND_GREY = 110
MIN_DEPTH = 0.3          # m: closer than this the camera sees nothing useful (on the ground, say)
_INNER_PX = 96           # texture pixels across the black square (6 cells of 16 px)
_QUIET_CELLS = 1         # white margin around the black square, in marker cells


@dataclass(frozen=True)
class CameraModel:
    width: int = 320
    height: int = 240
    fov_deg: float = 90.0          # horizontal field of view
    marker_size: float = 0.5       # m, edge of the black square
    # what the detector needs: the black square inside the image by `edge_margin_px`, and edges of at least
    # `min_marker_px` (calibrated against cv2.aruco on rendered frames: tests/unit/test_sim_camera.py)
    edge_margin_px: float = 1.5
    min_marker_px: float = 9.0

    def validate(self) -> None:
        if self.width < 16 or self.height < 16:
            raise ValueError(f"camera image must be at least 16x16, got {self.width}x{self.height}")
        if not 10.0 <= self.fov_deg <= 170.0:
            raise ValueError(f"camera fov_deg must be in 10..170, got {self.fov_deg}")
        if not self.marker_size > 0:
            raise ValueError(f"marker_size must be > 0, got {self.marker_size}")

    @property
    def fx(self) -> float:
        return self.width / 2.0 / math.tan(math.radians(self.fov_deg) / 2.0)

    def matrix(self) -> np.ndarray:
        """Intrinsics K (square pixels, principal point at the centre, no distortion)."""
        return np.array([[self.fx, 0.0, self.width / 2.0], [0.0, self.fx, self.height / 2.0], [0.0, 0.0, 1.0]])

    def projection(self) -> list[float]:
        """The 3×4 projection matrix P of CameraInfo, row-major."""
        k = self.matrix()
        return [k[0, 0], 0.0, k[0, 2], 0.0, 0.0, k[1, 1], k[1, 2], 0.0, 0.0, 0.0, 1.0, 0.0]


def marker_corners(centres: np.ndarray, half: float) -> np.ndarray:
    """Map-frame corners (M×4×3) of square markers of half-edge `half` at `centres` (M×3), in the order
    top-left, top-right, bottom-right, bottom-left of the print (top edge towards +y)."""
    offsets = np.array([[-half, half, 0.0], [half, half, 0.0], [half, -half, 0.0], [-half, -half, 0.0]])
    return np.asarray(centres, dtype=float)[:, None, :] + offsets[None, :, :]


def project(camera: CameraModel, drone_xyz: np.ndarray, yaw: float, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates (N×2) of map points (N×3) seen by the nadir camera of a drone at drone_xyz, yaw."""
    rel = np.asarray(points, dtype=float) - np.asarray(drone_xyz, dtype=float)
    c, s = math.cos(yaw), math.sin(yaw)
    forward = rel[:, 0] * c + rel[:, 1] * s
    left = -rel[:, 0] * s + rel[:, 1] * c
    depth = -rel[:, 2]
    u = camera.width / 2.0 - camera.fx * left / depth
    v = camera.height / 2.0 - camera.fx * forward / depth
    return np.stack([u, v], axis=1)


def visible_markers(camera: CameraModel, positions: np.ndarray, yaws: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Which markers each drone's camera can detect: an N×M boolean array, for N drones and M marker centres.

    Geometry only (no rendering): the whole black square in the image with a margin, and big enough. Cheap enough
    to run for every drone at the camera rate whether or not anybody looks at the pictures.
    """
    positions = np.asarray(positions, dtype=float).reshape(-1, 3)
    centres = np.asarray(centres, dtype=float).reshape(-1, 3)
    if len(positions) == 0 or len(centres) == 0:
        return np.zeros((len(positions), len(centres)), dtype=bool)
    corners = marker_corners(centres, camera.marker_size / 2.0)                  # M×4×3
    rel = corners[None, :, :, :] - positions[:, None, None, :]                   # N×M×4×3
    c, s = np.cos(yaws)[:, None, None], np.sin(yaws)[:, None, None]
    forward = rel[..., 0] * c + rel[..., 1] * s
    left = -rel[..., 0] * s + rel[..., 1] * c
    depth = -rel[..., 2]
    ok_depth = depth.min(axis=2) > MIN_DEPTH
    depth = np.where(depth > MIN_DEPTH, depth, np.inf)
    u = camera.width / 2.0 - camera.fx * left / depth
    v = camera.height / 2.0 - camera.fx * forward / depth
    m = camera.edge_margin_px
    inside = ((u >= m) & (u <= camera.width - 1 - m) & (v >= m) & (v <= camera.height - 1 - m)).all(axis=2)
    edges = np.hypot(np.diff(u, axis=2, append=u[..., :1]), np.diff(v, axis=2, append=v[..., :1]))
    big_enough = edges.min(axis=2) >= camera.min_marker_px
    return ok_depth & inside & big_enough


@lru_cache(maxsize=256)
def _marker_texture(marker_id: int) -> np.ndarray:
    """The printed marker with its white quiet zone."""
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    inner = cv2.aruco.generateImageMarker(dictionary, marker_id, _INNER_PX)
    border = _INNER_PX // 6 * _QUIET_CELLS
    return cv2.copyMakeBorder(inner, border, border, border, border, cv2.BORDER_CONSTANT, value=255)


def render(camera: CameraModel, drone_xyz: np.ndarray, yaw: float,
           markers: dict[int, tuple[float, float, float]], hidden: frozenset[int] = frozenset()) -> np.ndarray:
    """The mono8 picture of the ground (plain grey) with every marker in view drawn in perspective."""
    image = np.full((camera.height, camera.width), GROUND_GREY, dtype=np.uint8)
    drone_xyz = np.asarray(drone_xyz, dtype=float)
    half_view = (drone_xyz[2]) * math.tan(math.radians(camera.fov_deg) / 2.0) * 1.5
    outer_half = camera.marker_size / 2.0 * (1 + 2 * _QUIET_CELLS / 6)
    for marker_id, centre in markers.items():
        if marker_id in hidden or drone_xyz[2] - centre[2] < MIN_DEPTH:
            continue
        if math.hypot(centre[0] - drone_xyz[0], centre[1] - drone_xyz[1]) > half_view + 2 * outer_half:
            continue
        quad = project(camera, drone_xyz, yaw, marker_corners(np.array([centre]), outer_half)[0])
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, camera.width), min(y1, camera.height)
        if x1 <= x0 or y1 <= y0:
            continue
        texture = _marker_texture(marker_id)
        side = float(texture.shape[0])
        src = np.array([[0, 0], [side, 0], [side, side], [0, side]], dtype=np.float32)
        homography = cv2.getPerspectiveTransform(src, (quad - [x0, y0]).astype(np.float32))
        # BORDER_TRANSPARENT leaves the ground untouched where the texture does not land
        roi = np.ascontiguousarray(image[y0:y1, x0:x1])
        cv2.warpPerspective(texture, homography, (x1 - x0, y1 - y0), dst=roi, flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_TRANSPARENT)
        image[y0:y1, x0:x1] = roi
    return image


def detect(image: np.ndarray) -> dict[int, np.ndarray]:
    """ArUco markers (DICT_4X4_250) in a mono8 image: id → 4×2 corner pixels."""
    corners, ids, _ = _detector().detectMarkers(image)
    if ids is None:
        return {}
    return {int(i): c.reshape(4, 2) for i, c in zip(ids.flatten(), corners, strict=True)}


@lru_cache(maxsize=1)
def _detector() -> cv2.aruco.ArucoDetector:
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(ARUCO_DICT), cv2.aruco.DetectorParameters())
