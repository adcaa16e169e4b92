"""Checks on a Deliver goal before the drone accepts it (no rospy): what a goal must say to be flown."""
from __future__ import annotations

import math
from dataclasses import dataclass

from skypost_common.world import World

# A goal's pad may sit this far (m, horizontally) from where the world file puts the locker
PAD_TOLERANCE = 2.0


@dataclass(frozen=True)
class GoalSpec:
    """The fields of skypost/DeliverGoal that matter here, as plain values."""

    delivery_id: str
    locker_id: str
    marker_id: int
    target: tuple[float, float, float]
    base_id: str
    base: tuple[float, float, float]

    @classmethod
    def from_msg(cls, goal) -> GoalSpec:
        return cls(goal.delivery_id, goal.locker_id, int(goal.marker_id),
                   (goal.target.x, goal.target.y, goal.target.z), goal.base_id,
                   (goal.base.x, goal.base.y, goal.base.z))


def goal_problem(goal: GoalSpec, world: World | None) -> str | None:
    """Why this goal must be rejected, or None. With a world file, the locker and its marker must match it:
    a wrong marker id would put the parcel into another locker."""
    if not goal.delivery_id.strip():
        return "goal has no delivery_id"
    if not all(math.isfinite(v) for v in (*goal.target, *goal.base)):
        return "goal target and base must be finite numbers"
    if world is None:
        return None
    locker = world.lockers.get(goal.locker_id)
    if locker is None:
        return f"locker '{goal.locker_id}' is not in the world file"
    if locker.marker_id != goal.marker_id:
        return f"marker {goal.marker_id} is not the marker of {goal.locker_id} ({locker.marker_id})"
    dx, dy = goal.target[0] - locker.position[0], goal.target[1] - locker.position[1]
    if math.hypot(dx, dy) > PAD_TOLERANCE:
        return (f"target ({goal.target[0]:.1f}, {goal.target[1]:.1f}) is {math.hypot(dx, dy):.1f} m from "
                f"{goal.locker_id}'s pad")
    if goal.base_id and goal.base_id not in world.bases:
        return f"base '{goal.base_id}' is not in the world file"
    return None
