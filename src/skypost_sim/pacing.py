"""Pacing sim time against the wall clock, and sim-time schedules. Pure: the node passes wall times in."""
from __future__ import annotations

import math


class Pacer:
    """How many fixed physics steps to run now so that sim time = `speed` × wall time.

    Called once per wall tick. A machine that cannot keep up gets at most `max_burst` ticks' worth of steps at
    once; then the pacer re-anchors, so sim time runs slower instead of jumping ahead to catch up.
    """

    def __init__(self, speed: float, dt: float, tick: float, wall_start: float, sim_start: float = 0.0,
                 max_burst: float = 2.0) -> None:
        self.speed = speed
        self.dt = dt
        self.max_steps = max(1, math.ceil(max_burst * speed * tick / dt))
        self._wall_anchor, self._sim_anchor = wall_start, sim_start

    def steps(self, wall_now: float, sim_now: float) -> int:
        due = self._sim_anchor + (wall_now - self._wall_anchor) * self.speed
        steps = int((due - sim_now) / self.dt + 1e-9)
        if steps > self.max_steps:
            steps = self.max_steps
            self._wall_anchor, self._sim_anchor = wall_now, sim_now + steps * self.dt
        return max(steps, 0)


class Schedule:
    """Fires every `period` seconds of sim time (period 0: never); skips missed beats instead of bunching them."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next = 0.0

    @classmethod
    def at_rate(cls, rate: float) -> Schedule:
        return cls(1.0 / rate if rate > 0 else 0.0)

    def due(self, now: float) -> bool:
        if self.period <= 0 or now + 1e-9 < self.next:
            return False
        self.next += self.period
        if self.next <= now:  # beats were missed: restart the rhythm from now rather than firing a burst
            self.next = now + self.period
        return True


class SpeedMeter:
    """Achieved speed (sim seconds per wall second) and CPU share over windows of `period` wall seconds."""

    def __init__(self, period: float, wall_start: float, sim_start: float = 0.0) -> None:
        self.period = period
        self._wall, self._sim, self._cpu = wall_start, sim_start, 0.0

    def sample(self, wall_now: float, sim_now: float, cpu_total: float) -> tuple[float, float] | None:
        """(speed, cpu share) once a window has passed, else None."""
        elapsed = wall_now - self._wall
        if elapsed < self.period:
            return None
        result = ((sim_now - self._sim) / elapsed, (cpu_total - self._cpu) / elapsed)
        self._wall, self._sim, self._cpu = wall_now, sim_now, cpu_total
        return result
