"""Precision approach over the locker pad: search for the marker, descend onto it, give up after N attempts.

Pure (times are float seconds of ROS time), after PX4's precision landing: when the marker is not in view the drone
climbs to a search height over the pad and waits `search_timeout`; once seen it descends; a marker lost for longer
than `lost_timeout` during the descent, or never found, starts the next search; after `attempts` searches the
approach gives up (the mission returns with the parcel). The node performs the moves; this decides.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from .marker import MarkerSighting

MARKER_FRESH_S = 0.5   # a sighting older than this does not steer (Clover's own rule for aruco_<id> frames)


class Step(Enum):
    WAIT = "wait"                  # keep going
    ACQUIRED = "acquired"          # marker in view: descend onto it
    ARRIVED = "arrived"            # over the marker at drop height, within the acceptance radius
    SEARCH_AGAIN = "search_again"  # climb back to the search point (one more attempt)
    GIVE_UP = "give_up"            # attempts used up: return with the parcel
    NAV_FAILED = "nav_failed"      # the climb to the search point failed (a navigation failure)


@dataclass(frozen=True)
class ApproachConfig:
    search_timeout: float
    lost_timeout: float
    attempts: int
    acceptance_radius: float


@dataclass
class Approach:
    config: ApproachConfig
    attempts_used: int = 0
    descending: bool = False
    search_deadline: float | None = None   # set once the drone hovers at the search point
    sighting: MarkerSighting | None = None
    seen_at: float = -math.inf
    why: str = ""                          # what the last SEARCH_AGAIN / GIVE_UP / NAV_FAILED was about

    def search(self) -> None:
        """A (new) search starts: the drone is sent to the search point."""
        self.descending, self.search_deadline, self.sighting, self.seen_at = False, None, None, -math.inf

    def descend(self) -> None:
        self.descending = True

    def saw(self, sighting: MarkerSighting, stamp: float) -> None:
        self.sighting, self.seen_at = sighting, stamp

    def fresh(self, now: float) -> bool:
        return self.sighting is not None and now - self.seen_at < MARKER_FRESH_S

    def step(self, now: float, leg_reached: bool, leg_trouble: str | None) -> Step:
        """What to do now, given whether the current leg is reached and whether it is in trouble."""
        if not self.descending:
            if self.fresh(now):
                return Step.ACQUIRED
            if self.search_deadline is None and leg_reached:
                self.search_deadline = now + self.config.search_timeout
            if self.search_deadline is not None:   # hovering at the search point: only the search clock counts
                return self._failed("marker not found") if now > self.search_deadline else Step.WAIT
            if leg_trouble:
                self.why = leg_trouble
                return Step.NAV_FAILED
            return Step.WAIT
        if now - self.seen_at > self.config.lost_timeout:
            return self._failed("marker lost during the descent")
        if leg_reached and self.fresh(now) and self.sighting.horizontal_error < self.config.acceptance_radius:
            return Step.ARRIVED
        if leg_trouble:
            return self._failed(f"descent onto the marker: {leg_trouble}")
        return Step.WAIT

    def _failed(self, why: str) -> Step:
        self.attempts_used += 1
        self.why = f"{why} (attempt {self.attempts_used}/{self.config.attempts})"
        return Step.GIVE_UP if self.attempts_used >= self.config.attempts else Step.SEARCH_AGAIN
