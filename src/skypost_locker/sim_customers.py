"""The line of simulated customers in front of a locker's camera. Pure: no rospy.

Customers step up one at a time, like people at a real locker: the one at the front shows their code until a cell
opens for them or their patience runs out; the others wait their turn, and their patience starts when they reach
the camera. Times are wall-clock seconds, as the firmware and the camera run.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

Frame = TypeVar("Frame")


@dataclass
class Customer(Generic[Frame]):
    code: str
    frame: Frame          # what the camera sees while they hold their code up
    leaves_at: float = 0.0
    cell: int = 0         # the cell that opened for them; 0 while they wait


class CustomerLine(Generic[Frame]):
    def __init__(self, patience: float) -> None:
        if patience <= 0:
            raise ValueError(f"patience must be positive, got {patience}")
        self.patience = patience
        self._line: deque[Customer[Frame]] = deque()

    @property
    def front(self) -> Customer[Frame] | None:
        return self._line[0] if self._line else None

    def __len__(self) -> int:
        return len(self._line)

    def arrive(self, code: str, frame: Frame, now: float) -> bool:
        """Join the line; False when someone with that code is already in it (a repeated arrival)."""
        if any(c.code == code for c in self._line):
            return False
        self._line.append(Customer(code, frame))
        if len(self._line) == 1:
            self._line[0].leaves_at = now + self.patience
        return True

    def showing(self, now: float) -> tuple[Customer[Frame] | None, Customer[Frame] | None]:
        """(who holds a code to the camera now, who gave up just now); the next in line steps up."""
        gave_up = None
        front = self.front
        if front is not None and front.cell == 0 and now > front.leaves_at:
            gave_up = self._next(now)
            front = self.front
        return (front if front is not None and front.cell == 0 else None), gave_up

    def cell_unlocked(self, cell: int) -> Customer[Frame] | None:
        """A cell unlocked: it is the waiting front customer's (the locker opens one pickup at a time)."""
        front = self.front
        if front is None or front.cell != 0:
            return None
        front.cell = cell
        return front

    def refused(self, now: float) -> Customer[Frame] | None:
        """The screen refused the code of the customer at the front: they leave, the next steps up."""
        front = self.front
        return self._next(now) if front is not None and front.cell == 0 else None

    def owns(self, cell: int) -> bool:
        front = self.front
        return front is not None and front.cell == cell

    def took_parcel(self, cell: int, now: float) -> Customer[Frame] | None:
        """The front customer took their parcel from `cell` and leaves; None if it was not theirs."""
        return self._next(now) if self.owns(cell) else None

    def _next(self, now: float) -> Customer[Frame]:
        left = self._line.popleft()
        if self._line:
            self._line[0].leaves_at = now + self.patience
        return left
