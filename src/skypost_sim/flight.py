"""Kinematic flight model of N multicopters at once (numpy arrays, one row per drone).

Each drone follows a setpoint the way PX4's position controller follows what Clover's simple_offboard streams:
a position setpoint (with a velocity feed-forward while `navigate` slides it along the straight line from start to
target at the requested speed) or a velocity setpoint; landing descends at a fixed rate and disarms on touch-down.
Limits: horizontal speed, vertical speed, acceleration (all three axes together) and yaw rate. Wind pushes the
airframe; the controller's integrator absorbs a steady wind over `wind_adapt_time`, gusts show as position error.
Pure numpy, no ROS; the caller holds whatever lock guards the arrays.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

GROUND_Z = 0.0
ON_GROUND_EPS = 0.02   # m above the ground that still counts as on it
BRAKING = 0.8          # fraction of max_accel planned for stopping at a target


class Control(IntEnum):
    """What the autopilot is tracking."""

    HOLD = 0       # a fixed position (also: disarmed on the ground)
    NAVIGATE = 1   # a setpoint sliding from `start` to `target` at `speed`
    POSITION = 2   # jump straight to `target` (set_position)
    VELOCITY = 3   # `velocity_setpoint` (set_velocity)
    LAND = 4       # descend where it is, disarm on the ground


@dataclass(frozen=True)
class FlightLimits:
    max_speed: float = 5.0        # m/s horizontal
    max_accel: float = 3.0        # m/s^2
    max_climb: float = 1.5        # m/s vertical, up and down
    land_speed: float = 0.7       # m/s descent while landing
    max_yaw_rate: float = 1.0     # rad/s
    position_gain: float = 1.5    # 1/s: velocity command per metre of position error
    wind_adapt_time: float = 2.0  # s: how fast the controller learns a steady wind

    def validate(self) -> None:
        for name in ("max_speed", "max_accel", "max_climb", "land_speed", "max_yaw_rate", "position_gain",
                     "wind_adapt_time"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"flight limit {name} must be a positive number, got {value!r}")


def wrap_angle(angle: np.ndarray | float) -> np.ndarray | float:
    """Angle(s) in (-pi, pi]."""
    return np.pi - np.mod(np.pi - angle, 2.0 * np.pi)


class FleetDynamics:
    """Position, velocity, yaw and the active setpoint of N drones."""

    def __init__(self, starts: np.ndarray, limits: FlightLimits) -> None:
        limits.validate()
        starts = np.asarray(starts, dtype=float).reshape(-1, 3)
        n = len(starts)
        self.limits = limits
        self.position = starts.copy()
        self.velocity = np.zeros((n, 3))
        self.yaw = np.zeros(n)
        self.yaw_rate = np.zeros(n)
        self.armed = np.zeros(n, dtype=bool)
        self.control = np.full(n, int(Control.HOLD), dtype=np.int8)
        self.start = starts.copy()          # NAVIGATE: where the sliding setpoint began
        self.target = starts.copy()         # NAVIGATE/POSITION/HOLD: where it ends
        self.start_time = np.zeros(n)       # NAVIGATE: sim time the slide began
        self.duration = np.zeros(n)         # NAVIGATE: seconds the slide takes (distance / speed)
        self.velocity_setpoint = np.zeros((n, 3))
        self.yaw_setpoint = np.zeros(n)
        self.wind = np.zeros((n, 3))        # air velocity around each drone (m/s)
        self._wind_learned = np.zeros((n, 3))

    def __len__(self) -> int:
        return len(self.position)

    # ----- derived state ----------------------------------------------------------------------------------
    @property
    def on_ground(self) -> np.ndarray:
        return self.position[:, 2] <= GROUND_Z + ON_GROUND_EPS

    @property
    def flying(self) -> np.ndarray:
        return self.armed & ~self.on_ground

    def setpoint(self, now: float) -> np.ndarray:
        """Where each drone's position setpoint is right now (the sliding point while navigating)."""
        fraction = np.ones(len(self))
        sliding = (self.control == Control.NAVIGATE) & (self.duration > 0)
        if sliding.any():
            fraction[sliding] = np.clip((now - self.start_time[sliding]) / self.duration[sliding], 0.0, 1.0)
        return self.start + (self.target - self.start) * fraction[:, None]

    # ----- commands (one drone) ---------------------------------------------------------------------------
    def navigate(self, i: int, start: np.ndarray, target: np.ndarray, yaw: float, speed: float, now: float) -> None:
        self.control[i] = Control.NAVIGATE
        self.start[i] = start
        self.target[i] = target
        self.start_time[i] = now
        self.duration[i] = float(np.linalg.norm(target - start)) / speed
        self.yaw_setpoint[i] = yaw

    def set_position(self, i: int, target: np.ndarray, yaw: float) -> None:
        self.control[i] = Control.POSITION
        self.start[i] = target
        self.target[i] = target
        self.yaw_setpoint[i] = yaw

    def set_velocity(self, i: int, velocity: np.ndarray, yaw: float) -> None:
        self.control[i] = Control.VELOCITY
        self.velocity_setpoint[i] = velocity
        self.yaw_setpoint[i] = yaw

    def hold(self, i: int) -> None:
        """Hold the current position (what PX4 does right after switching to OFFBOARD on our setpoint)."""
        self.control[i] = Control.HOLD
        self.start[i] = self.position[i]
        self.target[i] = self.position[i]
        self.yaw_setpoint[i] = self.yaw[i]

    def land(self, i: int) -> None:
        self.control[i] = Control.LAND
        self.target[i] = self.position[i]
        self.start[i] = self.position[i]

    # ----- physics ----------------------------------------------------------------------------------------
    def step(self, dt: float, now: float) -> np.ndarray:
        """Advance every drone by dt seconds (`now` = sim time at the end of the step).

        Returns the horizontal distance each drone flew (m), for the battery model.
        """
        lim = self.limits
        armed = self.armed
        control = self.control
        before = self.position[:, :2].copy()

        sliding = control == Control.NAVIGATE
        sp = self.setpoint(now)
        desired = (sp - self.position) * lim.position_gain
        if sliding.any():   # feed-forward the slide's own velocity so the drone keeps pace instead of lagging
            moving = sliding & (now - self.start_time < self.duration)
            if moving.any():
                desired[moving] += (self.target[moving] - self.start[moving]) / self.duration[moving, None]
        by_velocity = control == Control.VELOCITY
        desired[by_velocity] = self.velocity_setpoint[by_velocity]
        landing = control == Control.LAND
        desired[landing, 2] = -lim.land_speed
        # brake in time for the final target (PX4 plans a deceleration; a bare P controller would overshoot)
        to_target = ~by_velocity & ~landing
        if to_target.any():
            remaining = np.linalg.norm(self.target[to_target] - self.position[to_target], axis=1)
            reach = np.sqrt(2.0 * BRAKING * lim.max_accel * remaining)
            wanted = np.linalg.norm(desired[to_target], axis=1)
            desired[to_target] *= np.minimum(1.0, reach / np.maximum(wanted, 1e-9))[:, None]

        # speed limits keep the direction of travel: a climbing leg stays a straight line
        horizontal = np.hypot(desired[:, 0], desired[:, 1])
        scale = np.minimum(1.0, lim.max_speed / np.maximum(horizontal, 1e-9))
        vertical = np.abs(desired[:, 2])
        scale = np.minimum(scale, np.where(landing, 1.0, lim.max_climb / np.maximum(vertical, 1e-9)))
        desired *= scale[:, None]
        desired[~armed] = 0.0

        change = desired - self.velocity
        norm = np.linalg.norm(change, axis=1)
        max_change = lim.max_accel * dt
        too_fast = norm > max_change
        if too_fast.any():
            change[too_fast] *= (max_change / norm[too_fast])[:, None]
        self.velocity += change

        # wind: the drone drifts with the part of it the controller has not learned to lean into yet
        airborne = armed & ~self.on_ground
        self._wind_learned += (self.wind - self._wind_learned) * min(1.0, dt / lim.wind_adapt_time)
        drift = np.where(airborne[:, None], self.wind - self._wind_learned, 0.0)
        self.position += (self.velocity + drift) * dt

        # yaw toward its setpoint at a bounded rate
        error = wrap_angle(self.yaw_setpoint - self.yaw)
        turn = np.clip(error, -lim.max_yaw_rate * dt, lim.max_yaw_rate * dt)
        turn[~armed] = 0.0
        self.yaw = wrap_angle(self.yaw + turn)
        self.yaw_rate = turn / dt

        # the ground: nothing goes below it; a landing drone disarms when it touches
        below = self.position[:, 2] <= GROUND_Z
        if below.any():
            self.position[below, 2] = GROUND_Z
            self.velocity[below, 2] = np.maximum(self.velocity[below, 2], 0.0)
        touched = landing & armed & self.on_ground
        if touched.any():
            self.armed[touched] = False
            self.position[touched, 2] = GROUND_Z
        parked = ~self.armed
        if parked.any():
            self.velocity[parked] = 0.0
            self.yaw_rate[parked] = 0.0
            self._wind_learned[parked] = 0.0
        return np.hypot(*(self.position[:, :2] - before).T)
