"""QR pickup at the locker, without ROS: which decoded codes go to validation, and the pickup itself.

`CodeGate` decides whether a decoded code is sent for validation: a code is sent once while it stays in view (it must
be out of view for `forget_after` seconds before it counts as shown again), at most `limit` codes per `window`
seconds per locker (brute-force guard), and nothing while a pickup is under way.

`PickupFlow` runs one pickup through a `PickupPort` (the node gives it ROS, the tests a fake): validate the code →
open the cell → wait for the door to open and close again → lock → report. Every wait has a deadline.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Verdict(Enum):
    SEND = "send"
    IN_VIEW = "in_view"            # the same code is still in front of the camera: already handled
    RATE_LIMITED = "rate_limited"
    BUSY = "busy"                  # a pickup is under way


class CodeGate:
    def __init__(self, limit: int = 5, window: float = 60.0, forget_after: float = 2.0) -> None:
        if limit < 1 or window <= 0 or forget_after < 0:
            raise ValueError("code rate limit must be >= 1 per positive window; forget_after >= 0")
        self.limit = limit
        self.window = window
        self.forget_after = forget_after
        self._sent: deque[float] = deque()
        self._last_seen: dict[str, float] = {}

    def offer(self, code: str, now: float, busy: bool = False) -> Verdict:
        last = self._last_seen.get(code)
        self._last_seen[code] = now
        self._forget(now)
        if last is not None and now - last <= self.forget_after:
            return Verdict.IN_VIEW
        if busy:
            del self._last_seen[code]  # not handled: it may be sent once the locker is free
            return Verdict.BUSY
        while self._sent and now - self._sent[0] >= self.window:
            self._sent.popleft()
        if len(self._sent) >= self.limit:
            return Verdict.RATE_LIMITED
        self._sent.append(now)
        return Verdict.SEND

    def _forget(self, now: float) -> None:
        for code, seen in list(self._last_seen.items()):
            if now - seen > self.forget_after:
                del self._last_seen[code]


@dataclass(frozen=True)
class Validation:
    success: bool
    message: str
    delivery_id: str = ""
    cell_id: int = 0


@dataclass(frozen=True)
class PickupResult:
    success: bool
    message: str
    delivery_id: str = ""
    cell_id: int = 0


class PickupPort(Protocol):
    def validate(self, code: str) -> Validation:
        """Asks the web app (raises TimeoutError / OSError when it does not answer)."""

    def open(self, delivery_id: str, cell_id: int) -> tuple[bool, str]:
        """Opens the cell for this delivery (waits for the device's confirmation)."""

    def wait_door(self, cell_id: int, closed: bool, timeout: float) -> bool:
        """Waits until the cell's door is closed (or open); False on timeout."""

    def close(self, cell_id: int) -> tuple[bool, str]:
        """Locks the cell (waits for the device's confirmation)."""

    def finish(self, delivery_id: str, cell_id: int) -> tuple[bool, str]:
        """The cell is locked again: frees it if empty; (False, why) if the parcel is still inside."""

    def show(self, text: str) -> None:
        """Text on the locker's screen."""


@dataclass(frozen=True)
class PickupTimeouts:
    door_open: float = 60.0      # s after the cell opened for the customer to open the door
    door_close: float = 300.0    # s for the customer to close it again (then staff are needed)


class Screen:
    """What the locker's screen says."""

    IDLE = "Show your pickup QR code to the camera"
    CHECKING = "Checking your code..."
    OFFLINE = "Out of service"

    @staticmethod
    def refused(message: str) -> str:
        return f"Code refused: {message}" if message else "Code refused"

    @staticmethod
    def opened(cell_id: int) -> str:
        return f"Cell {cell_id} is open: take your parcel and close the door"


class PickupFlow:
    def __init__(self, port: PickupPort, timeouts: PickupTimeouts | None = None) -> None:
        self.port = port
        self.timeouts = timeouts or PickupTimeouts()

    def run(self, code: str) -> PickupResult:
        port = self.port
        port.show(Screen.CHECKING)
        try:
            validation = port.validate(code)
        except (TimeoutError, OSError) as exc:
            port.show(Screen.refused("the code could not be checked, please try again"))
            return PickupResult(False, f"validation failed: {exc}")
        if not validation.success:
            port.show(Screen.refused(validation.message))
            return PickupResult(False, validation.message or "code refused", validation.delivery_id,
                                validation.cell_id)
        delivery, cell = validation.delivery_id, validation.cell_id
        opened, why = port.open(delivery, cell)
        if not opened:
            port.show(Screen.refused(f"cell {cell} could not be opened, please contact staff"))
            return PickupResult(False, f"cell {cell} did not open: {why}", delivery, cell)
        port.show(Screen.opened(cell))
        door_opened = port.wait_door(cell, closed=False, timeout=self.timeouts.door_open)
        door_closed = port.wait_door(cell, closed=True, timeout=self.timeouts.door_close) if door_opened else True
        locked, why = port.close(cell)  # in every case: a cell is never left unlocked behind a customer
        relock = "" if locked else f"; relocking failed: {why}"
        if not door_opened:
            port.show(Screen.IDLE)
            return PickupResult(False, f"door of cell {cell} was not opened within {self.timeouts.door_open:.0f} s"
                                       f"{relock}", delivery, cell)
        if not door_closed:
            port.show(f"Please close the door of cell {cell}")
            return PickupResult(False, f"door of cell {cell} left open for {self.timeouts.door_close:.0f} s"
                                       f"{relock}", delivery, cell)
        if not locked:
            port.show(f"Cell {cell} could not be locked, please contact staff")
            return PickupResult(False, f"cell {cell} did not lock after pickup: {why}", delivery, cell)
        done, why = port.finish(delivery, cell)
        port.show("Thank you!" if done else f"Your parcel is still in cell {cell}: please contact staff")
        return PickupResult(done, why, delivery, cell)
