"""The simulated site: N drones (flight, battery, autopilot mode), the ground's ArUco markers, the locker pads,
injected faults and the sim clock. Pure (no rospy); thread-safe: `lock` guards every array, `step` advances the
world, request threads wait for sim time with `sleep`.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .battery import BatteryBank, BatteryConfig
from .camera import CameraModel, visible_markers
from .flight import Control, FleetDynamics, FlightLimits

MARKER_FRESH_S = 0.5         # aruco_<id> frames live this long after the camera last saw the marker
GUST_TIME_CONSTANT = 3.0     # s: how long a gust lasts
INITIAL_MODE = "POSCTL"      # what PX4 reports on the ground before anyone asks for OFFBOARD


class SimStoppedError(RuntimeError):
    """The simulation stopped while a request waited for sim time."""


@dataclass(frozen=True)
class DroneSpec:
    id: str
    start: tuple[float, float, float]   # where it stands at t = 0
    base: tuple[float, float, float]    # where it recharges


@dataclass(frozen=True)
class Pad:
    """A locker's landing pad: a parcel released over it lands in the locker's open cell."""

    locker_id: str
    position: tuple[float, float, float]


@dataclass(frozen=True)
class ModelConfig:
    limits: FlightLimits = field(default_factory=FlightLimits)
    battery: BatteryConfig = field(default_factory=BatteryConfig)
    camera: CameraModel = field(default_factory=CameraModel)
    initial_charge: float = 1.0
    wind: tuple[float, float, float] = (0.0, 0.0, 0.0)   # steady wind over the whole site, m/s
    gust: float = 0.0                  # m/s, standard deviation of gusts around it
    battery_failsafe: float = 0.03     # charge at which the autopilot lands by itself
    drop_radius: float = 1.5           # m: a release this close (horizontally) to a pad reaches it
    drop_max_height: float = 4.0       # m above the pad

    def validate(self) -> None:
        self.limits.validate()
        self.battery.validate()
        self.camera.validate()
        if not 0.0 <= self.initial_charge <= 1.0:
            raise ValueError(f"initial_charge must be in 0..1, got {self.initial_charge}")
        if not (self.gust >= 0 and all(math.isfinite(w) for w in self.wind)):
            raise ValueError(f"wind must be finite and gust >= 0, got {self.wind}, {self.gust}")
        if not 0.0 <= self.battery_failsafe < 1.0:
            raise ValueError(f"battery_failsafe must be in 0..1, got {self.battery_failsafe}")
        if not (self.drop_radius > 0 and self.drop_max_height > 0):
            raise ValueError("drop_radius and drop_max_height must be > 0")


@dataclass
class Snapshot:
    """Everything the MAVROS topics and the camera need, copied out under the lock in one go."""

    now: float
    position: np.ndarray
    velocity: np.ndarray
    yaw: np.ndarray
    armed: np.ndarray
    mode: list[str]
    flying: np.ndarray
    landing: np.ndarray
    on_ground: np.ndarray
    connected: np.ndarray


class Simulation:
    def __init__(self, drones: Sequence[DroneSpec], markers: dict[int, tuple[float, float, float]],
                 pads: Sequence[Pad] = (), model: ModelConfig | None = None, seed: int = 0,
                 self_stepping: bool = False) -> None:
        """`self_stepping`: `sleep` advances the world itself (single-threaded use: tests, benchmarks) instead of
        waiting for another thread's `step`."""
        model = model or ModelConfig()
        model.validate()
        if len({d.id for d in drones}) != len(drones):
            raise ValueError("drone ids must be unique")
        self.model = model
        self.ids = [d.id for d in drones]
        self.index = {drone_id: i for i, drone_id in enumerate(self.ids)}
        n = len(drones)
        self.dynamics = FleetDynamics(np.array([d.start for d in drones], dtype=float).reshape(n, 3), model.limits)
        self.battery = BatteryBank(n, model.battery, model.initial_charge)
        self.bases = np.array([d.base for d in drones], dtype=float).reshape(n, 3)
        self.mode = [INITIAL_MODE] * n
        self.has_target = np.zeros(n, dtype=bool)   # navigate_target exists once something was navigated to
        self.marker_ids = sorted(markers)
        self.marker_column = {marker_id: j for j, marker_id in enumerate(self.marker_ids)}
        self.marker_centres = np.array([markers[m] for m in self.marker_ids], dtype=float).reshape(-1, 3)
        self.markers = dict(markers)
        self.seen_at = np.full((n, len(self.marker_ids)), -np.inf)
        self.hidden_markers: set[int] = set()
        self.pads = list(pads)
        # faults
        self.navigate_refusals = np.zeros(n, dtype=int)
        self.telemetry_stop_until = np.full(n, -np.inf)
        self.fault_wind = np.zeros((n, 3))
        self._gust = np.zeros((n, 3))
        self._rng = np.random.default_rng(seed)
        self.now = 0.0
        self.lock = threading.RLock()
        self._ticked = threading.Condition(self.lock)
        self._self_stepping = self_stepping
        self._stopped = False

    def __len__(self) -> int:
        return len(self.ids)

    # ----- time -------------------------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        """Advance the whole world by dt seconds of sim time."""
        with self.lock:
            self.now += dt
            self._update_wind(dt)
            d = self.dynamics
            distance = d.step(dt, self.now)
            flying = d.flying
            at_base = np.hypot(*(d.position[:, :2] - self.bases[:, :2]).T) <= self.model.battery.base_radius
            self.battery.step(dt, flying, distance, charging=at_base & ~d.armed & d.on_ground)
            self._battery_failsafe(flying)
            self._ticked.notify_all()

    def advance(self, seconds: float, dt: float = 0.02) -> None:
        for _ in range(max(1, round(seconds / dt))):
            self.step(dt)

    def sleep(self, seconds: float) -> None:
        """Block the calling (request) thread for `seconds` of sim time. Raises SimStoppedError on shutdown."""
        if self._self_stepping:
            self.advance(seconds)
            return
        with self._ticked:
            until = self.now + seconds
            while self.now < until - 1e-9:
                if self._stopped:
                    raise SimStoppedError("simulation stopped")
                self._ticked.wait(timeout=0.5)

    def stop(self) -> None:
        with self._ticked:
            self._stopped = True
            self._ticked.notify_all()

    def _update_wind(self, dt: float) -> None:
        steady = np.asarray(self.model.wind, dtype=float) + self.fault_wind
        if self.model.gust > 0:   # Ornstein-Uhlenbeck gusts: random, correlated over GUST_TIME_CONSTANT
            decay = dt / GUST_TIME_CONSTANT
            noise = self._rng.standard_normal(self._gust.shape)
            self._gust += -self._gust * decay + self.model.gust * math.sqrt(2.0 * decay) * noise
            self._gust[:, 2] *= 0.3   # gusts are mostly horizontal
            steady = steady + self._gust
        self.dynamics.wind[:] = steady

    def _battery_failsafe(self, flying: np.ndarray) -> None:
        empty = flying & (self.battery.charge <= self.model.battery_failsafe)
        for i in np.flatnonzero(empty):
            if self.mode[i] != "AUTO.LAND":   # the autopilot's own last resort; it only ever lands
                self.mode[i] = "AUTO.LAND"
                self.dynamics.land(int(i))

    # ----- per-drone state (callers hold the lock) --------------------------------------------------------
    def drone(self, drone_id: str) -> int:
        try:
            return self.index[drone_id]
        except KeyError:
            raise KeyError(f"unknown drone '{drone_id}' (simulated: {', '.join(self.ids)})") from None

    def telemetry_stopped(self, i: int) -> bool:
        return self.now < self.telemetry_stop_until[i]

    def set_mode(self, i: int, mode: str) -> None:
        self.mode[i] = mode

    def arm(self, i: int) -> None:
        self.dynamics.armed[i] = True

    def marker_fresh(self, i: int, marker_id: int) -> bool:
        column = self.marker_column.get(marker_id)
        return column is not None and self.now - self.seen_at[i, column] <= MARKER_FRESH_S

    # ----- camera -----------------------------------------------------------------------------------------
    def update_sightings(self) -> np.ndarray:
        """Let every drone's camera look (geometry only); returns the N×M mask of markers seen right now."""
        with self.lock:
            seen = visible_markers(self.model.camera, self.dynamics.position, self.dynamics.yaw, self.marker_centres)
            for marker_id in self.hidden_markers:
                column = self.marker_column.get(marker_id)
                if column is not None:
                    seen[:, column] = False
            self.seen_at[seen] = self.now
            return seen

    def visible_marker_positions(self) -> dict[int, tuple[float, float, float]]:
        with self.lock:
            return {m: p for m, p in self.markers.items() if m not in self.hidden_markers}

    # ----- cargo ------------------------------------------------------------------------------------------
    def pad_below(self, i: int) -> Pad | None:
        """The locker pad a parcel released now by drone i would land on, if any."""
        with self.lock:
            x, y, z = self.dynamics.position[i]
        for pad in self.pads:
            px, py, pz = pad.position
            if math.hypot(x - px, y - py) <= self.model.drop_radius and -0.5 <= z - pz < self.model.drop_max_height:
                return pad
        return None

    # ----- publishing -------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self.lock:
            d = self.dynamics
            return Snapshot(
                now=self.now, position=d.position.copy(), velocity=d.velocity.copy(), yaw=d.yaw.copy(),
                armed=d.armed.copy(), mode=list(self.mode), flying=d.flying, on_ground=d.on_ground,
                landing=(d.control == Control.LAND) & d.flying, connected=self.now >= self.telemetry_stop_until,
            )

