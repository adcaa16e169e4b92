"""Clover's simple_offboard request semantics for one simulated drone: navigate, set_position, set_velocity,
navigate_global, land and get_telemetry, answered the way the real node answers them.

- One request at a time: a call arriving while another is handled answers success=false "Busy" (get_telemetry
  is never busy). Handling takes sim time only when it waits for the autopilot (OFFBOARD switch, arming, AUTO.LAND).
- `auto_arm` switches to OFFBOARD and arms; without it a call fails unless the drone is already OFFBOARD and armed.
- `navigate` slides the setpoint along the straight line at `speed` (0 → 0.5 m/s); a navigate following a navigate
  starts from the current setpoint, as Clover's `nav_from_sp` does. yaw NaN keeps the heading, +inf faces the way.
- Frames: map, aruco_map (= map here), body and base_link (the drone, heading only), navigate_target (the last
  target, with its yaw), aruco_<id> (the marker, axes as map; usable while its camera saw it in the last 0.5 s).
- `land` is refused unless OFFBOARD. Unknown telemetry fields are NaN; a drone whose FCU link is down (fault
  telemetry_stop) answers connected=false and NaN everywhere, and refuses commands with "State timeout".
Pure: no rospy. Every refusal is a RequestError raised where it is detected and answered in `_serve`.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .flight import Control, wrap_angle
from .simulation import MARKER_FRESH_S, SimStoppedError, Simulation

NAN = float("nan")
DEFAULT_SPEED = 0.5    # m/s, simple_offboard's default_speed
FRAME_ALIASES = {"": "map", "aruco_map": "map", "base_link": "body"}


class RequestError(Exception):
    """A request simple_offboard would refuse; the text is its answer."""


@dataclass(frozen=True)
class Answer:
    success: bool
    message: str = ""


@dataclass(frozen=True)
class RequestTiming:
    mode_switch_time: float = 0.2   # s of sim time until the FCU reports a requested mode
    arm_time: float = 0.5           # s until it reports armed

    def validate(self) -> None:
        if not (self.mode_switch_time >= 0 and self.arm_time >= 0):
            raise ValueError("mode_switch_time and arm_time must be >= 0")


@dataclass(frozen=True)
class Telemetry:
    """GetTelemetry's response fields."""

    frame_id: str
    connected: bool = False
    armed: bool = False
    mode: str = ""
    x: float = NAN
    y: float = NAN
    z: float = NAN
    lat: float = NAN
    lon: float = NAN
    alt: float = NAN
    vx: float = NAN
    vy: float = NAN
    vz: float = NAN
    roll: float = NAN
    pitch: float = NAN
    yaw: float = NAN
    roll_rate: float = NAN
    pitch_rate: float = NAN
    yaw_rate: float = NAN
    voltage: float = NAN
    cell_voltage: float = NAN


def _rotate(vector: np.ndarray, yaw: float) -> np.ndarray:
    """A vector given in a frame turned by `yaw`, in the map frame."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([vector[0] * c - vector[1] * s, vector[0] * s + vector[1] * c, vector[2]])


def _ensure_finite(**values: float) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise RequestError(f"{name} argument cannot be NaN or Inf")


class CloverApi:
    """simple_offboard for drone `index` of a Simulation. Call from any thread."""

    def __init__(self, sim: Simulation, index: int, timing: RequestTiming | None = None) -> None:
        self.sim = sim
        self.i = index
        self.timing = timing or RequestTiming()
        self.timing.validate()
        self._busy = threading.Lock()

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    # ----- services ---------------------------------------------------------------------------------------
    def navigate(self, x: float, y: float, z: float, yaw: float = NAN, speed: float = 0.0, frame_id: str = "",
                 auto_arm: bool = False) -> Answer:
        def handle() -> str:
            self._check_state()
            self._injected_refusal()
            _ensure_finite(x=x, y=y, z=z)
            if speed < 0 or math.isnan(speed):
                raise RequestError(f"Navigate speed must be positive, {speed:f} passed")
            with self.sim.lock:
                target, frame_yaw = self._point_in_map(frame_id, np.array([x, y, z]))
            self._arm_or_check(auto_arm)
            with self.sim.lock:
                d, i = self.sim.dynamics, self.i
                continuing = d.control[i] == Control.NAVIGATE and self.sim.mode[i] == "OFFBOARD"
                start = d.setpoint(self.sim.now)[i] if continuing else d.position[i].copy()
                d.navigate(i, start, target, self._yaw_in_map(yaw, frame_yaw, start, target), speed or DEFAULT_SPEED,
                           self.sim.now)
                self.sim.has_target[i] = True
            return "Navigating from current setpoint" if continuing else ""

        return self._serve(handle)

    def set_position(self, x: float, y: float, z: float, yaw: float = NAN, frame_id: str = "",
                     auto_arm: bool = False) -> Answer:
        def handle() -> str:
            self._check_state()
            _ensure_finite(x=x, y=y, z=z)
            with self.sim.lock:
                target, frame_yaw = self._point_in_map(frame_id, np.array([x, y, z]))
            self._arm_or_check(auto_arm)
            with self.sim.lock:
                position = self.sim.dynamics.position[self.i]
                self.sim.dynamics.set_position(self.i, target, self._yaw_in_map(yaw, frame_yaw, position, target))
                self.sim.has_target[self.i] = True
            return ""

        return self._serve(handle)

    def set_velocity(self, vx: float, vy: float, vz: float, yaw: float = NAN, frame_id: str = "",
                     auto_arm: bool = False) -> Answer:
        def handle() -> str:
            self._check_state()
            _ensure_finite(vx=vx, vy=vy, vz=vz)
            with self.sim.lock:
                _origin, frame_yaw = self._frame(frame_id)
            velocity = _rotate(np.array([vx, vy, vz]), frame_yaw)
            self._arm_or_check(auto_arm)
            with self.sim.lock:
                here = self.sim.dynamics.position[self.i]
                self.sim.dynamics.set_velocity(self.i, velocity,
                                               self._yaw_in_map(yaw, frame_yaw, here, here + velocity))
            return ""

        return self._serve(handle)

    def navigate_global(self, lat: float, lon: float, z: float, yaw: float = NAN, speed: float = 0.0,
                        frame_id: str = "", auto_arm: bool = False) -> Answer:
        def handle() -> str:
            self._check_state()
            _ensure_finite(lat=lat, lon=lon, z=z)
            raise RequestError("No global position")   # the simulated site has no GPS, like an indoor Clover

        return self._serve(handle)

    def land(self) -> Answer:
        def handle() -> str:
            self._check_state()
            with self.sim.lock:
                if self.sim.mode[self.i] != "OFFBOARD":
                    raise RequestError("Copter is not in OFFBOARD mode")
            self._wait(self.timing.mode_switch_time)
            with self.sim.lock:
                self.sim.set_mode(self.i, "AUTO.LAND")
                self.sim.dynamics.land(self.i)
            return ""

        return self._serve(handle)

    def telemetry(self, frame_id: str = "") -> Telemetry:
        frame_id = frame_id or "map"
        sim, i = self.sim, self.i
        with sim.lock:
            if sim.telemetry_stopped(i):
                return Telemetry(frame_id)
            d = sim.dynamics
            _percentage, voltage, cells = sim.battery.reading(i, loaded=bool(d.flying[i]))
            known = {
                "frame_id": frame_id, "connected": True, "armed": bool(d.armed[i]), "mode": sim.mode[i],
                "roll": 0.0, "pitch": 0.0, "roll_rate": 0.0, "pitch_rate": 0.0, "yaw_rate": float(d.yaw_rate[i]),
                "voltage": voltage, "cell_voltage": cells[0] if cells else NAN,
            }
            try:
                origin, frame_yaw = self._frame(frame_id)
            except RequestError:
                return Telemetry(**known)   # no such frame (yet): the pose stays unknown, as with a missing TF
            # plain floats: this is called for every drone several times a second
            px, py, pz = (d.position[i] - origin).tolist()
            vx, vy, vz = d.velocity[i].tolist()
            c, s = math.cos(frame_yaw), math.sin(frame_yaw)
            return Telemetry(**known, x=px * c + py * s, y=-px * s + py * c, z=pz,
                             vx=vx * c + vy * s, vy=-vx * s + vy * c, vz=vz,
                             yaw=float(wrap_angle(float(d.yaw[i]) - frame_yaw)))

    # ----- the parts ------------------------------------------------------------------------------------------
    def _serve(self, handle: Callable[[], str]) -> Answer:
        if not self._busy.acquire(blocking=False):
            return Answer(False, "Busy")
        try:
            return Answer(True, handle())
        except RequestError as exc:
            return Answer(False, str(exc))
        except SimStoppedError:
            return Answer(False, "Simulation is shutting down")
        finally:
            self._busy.release()

    def _check_state(self) -> None:
        with self.sim.lock:
            if self.sim.telemetry_stopped(self.i):
                raise RequestError("State timeout, check mavros settings")

    def _injected_refusal(self) -> None:
        with self.sim.lock:
            if self.sim.navigate_refusals[self.i] > 0:
                self.sim.navigate_refusals[self.i] -= 1
                raise RequestError("Navigate refused (injected fault navigate_refuse)")

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.sim.sleep(seconds)

    def _arm_or_check(self, auto_arm: bool) -> None:
        """offboardAndArm() with auto_arm (waits for the FCU); otherwise the drone must be OFFBOARD and armed."""
        sim, i = self.sim, self.i
        with sim.lock:
            mode, armed = sim.mode[i], bool(sim.dynamics.armed[i])
        if not auto_arm:
            if mode != "OFFBOARD":
                raise RequestError("Copter is not in OFFBOARD mode, use auto_arm?")
            if not armed:
                raise RequestError("Copter is not armed, use auto_arm?")
            return
        if mode != "OFFBOARD":
            with sim.lock:
                sim.dynamics.hold(i)   # the setpoint streamed before the switch: stay where it is
            self._wait(self.timing.mode_switch_time)
            with sim.lock:
                sim.set_mode(i, "OFFBOARD")
        if not armed:
            self._wait(self.timing.arm_time)
            with sim.lock:
                if sim.mode[i] != "OFFBOARD":
                    raise RequestError(f"Arming timed out: mode changed to {sim.mode[i]}")
                sim.arm(i)

    def _frame(self, frame_id: str) -> tuple[np.ndarray, float]:
        """Origin (map) and yaw of a frame. Raises RequestError when the frame does not exist (now)."""
        sim, i = self.sim, self.i
        d = sim.dynamics
        name = FRAME_ALIASES.get(frame_id, frame_id)
        if name == "map":
            return np.zeros(3), 0.0
        if name == "body":
            return d.position[i].copy(), float(d.yaw[i])
        if name == "navigate_target":
            if not sim.has_target[i]:
                raise RequestError("Can't transform from navigate_target to map: nothing navigated to yet")
            return d.target[i].copy(), float(d.yaw_setpoint[i])
        if name.startswith("aruco_") and name[6:].isdigit():
            marker_id = int(name[6:])
            if marker_id not in sim.markers:
                raise RequestError(f"Can't transform from {frame_id} to map: no marker {marker_id} on this site")
            if not sim.marker_fresh(i, marker_id):
                raise RequestError(f"Can't transform from {frame_id} to map: marker {marker_id} not seen in the "
                                   f"last {MARKER_FRESH_S:g} s")
            return np.array(sim.markers[marker_id], dtype=float), 0.0
        raise RequestError(f"Can't transform from {frame_id} to map: unknown frame")

    def _point_in_map(self, frame_id: str, point: np.ndarray) -> tuple[np.ndarray, float]:
        origin, frame_yaw = self._frame(frame_id)
        return origin + _rotate(point, frame_yaw), frame_yaw

    def _yaw_in_map(self, yaw: float, frame_yaw: float, start: np.ndarray, target: np.ndarray) -> float:
        if math.isnan(yaw):   # keep the current heading
            return float(self.sim.dynamics.yaw[self.i])
        if math.isinf(yaw) and yaw > 0:   # face the direction of travel
            dx, dy = target[0] - start[0], target[1] - start[1]
            return math.atan2(dy, dx) if math.hypot(dx, dy) > 1e-6 else float(self.sim.dynamics.yaw[self.i])
        if math.isinf(yaw):
            raise RequestError("yaw argument cannot be -Inf")
        return float(wrap_angle(yaw + frame_yaw))
