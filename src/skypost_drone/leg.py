"""One leg of a flight (take-off, cruise, search, descent, return): arrival, deadline and stuck detection.

Pure (times are float seconds of ROS time): the node feeds it the distance to the setpoint that Clover reports
with get_telemetry(frame_id="navigate_target") and asks whether the leg is done or in trouble.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

STUCK_PROGRESS_M = 0.2   # getting this much closer to the setpoint counts as progress


@dataclass
class Leg:
    target: np.ndarray            # map position of the setpoint (approximate for aruco_<id> legs)
    frame_id: str
    started: float
    deadline: float
    distance: float = math.inf    # m to the setpoint, last measured
    measured: float | None = None
    best: float = math.inf        # closest so far
    progress_at: float = field(default=math.nan)

    def __post_init__(self) -> None:
        if math.isnan(self.progress_at):
            self.progress_at = self.started

    @classmethod
    def start(cls, target: np.ndarray, frame_id: str, now: float, position: np.ndarray, speed: float,
              margin: float) -> Leg:
        """A leg from `position`; its deadline allows twice the straight-line time plus `margin` seconds."""
        distance = float(np.linalg.norm(np.asarray(target) - np.asarray(position)))
        return cls(np.asarray(target, dtype=float), frame_id, now, now + distance / speed * 2.0 + margin)

    def due(self, now: float, period: float) -> bool:
        """Whether the distance should be measured again."""
        return self.measured is None or now - self.measured >= period

    def update(self, distance: float, now: float) -> None:
        """A measured distance to the setpoint; NaN or infinite readings are ignored (unknown is not progress)."""
        if not math.isfinite(distance):
            return
        self.distance, self.measured = distance, now
        if distance < self.best - STUCK_PROGRESS_M:
            self.best, self.progress_at = distance, now

    def reached(self, tolerance: float) -> bool:
        return self.measured is not None and self.distance < tolerance

    def retarget(self, target: np.ndarray, now: float) -> None:
        """A corrected setpoint for the same leg: distances start over, the deadline stays."""
        self.target = np.asarray(target, dtype=float)
        self.distance, self.measured, self.best, self.progress_at = math.inf, None, math.inf, now

    def trouble(self, now: float, tolerance: float, stuck_timeout: float) -> str | None:
        """Why this leg counts as failed now (past its deadline, or no progress for `stuck_timeout`), or None."""
        if now > self.deadline:
            return (f"leg to ({self.target[0]:.1f}, {self.target[1]:.1f}, {self.target[2]:.1f}) not reached in "
                    f"{now - self.started:.0f} s")
        stalled = now - self.progress_at
        if not self.reached(tolerance) and stalled > stuck_timeout:
            to_go = f"{self.distance:.1f} m to go" if self.measured is not None else "no distance from the autopilot"
            return f"stuck: no progress for {stalled:.0f} s, {to_go}"
        return None

    def distance_to_go(self, position: np.ndarray) -> float:
        """For feedback: the measured distance, or the straight line from `position` before the first one."""
        if self.measured is not None:
            return self.distance
        return float(np.linalg.norm(self.target - np.asarray(position)))
