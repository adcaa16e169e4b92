"""The locker's logic without ROS: inventory, the controller's reported state, lock commands, modes.

Two clocks come in from outside: `ros_now` (ROS seconds) for reservations, `wall_now` (monotonic seconds) for
commands to the device. Commands to send accumulate in an outbox the node drains (`take_outbox`) after each call.
Nothing here ever opens a cell without a reservation of that cell, a validated pickup, or maintenance=true.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from .commands import CommandTracker, Outcome, Pending
from .hardware import Action, Command, HardwareState
from .inventory import Inventory, LockerError, Reservation


class Mode(IntEnum):
    """skypost/LockerState modes."""

    UNKNOWN = 0
    ONLINE = 1
    BUSY = 2
    MAINTENANCE = 3
    OFFLINE = 4


class Occupancy(IntEnum):
    """skypost/CellState occupancy."""

    UNKNOWN = 0
    EMPTY = 1
    OCCUPIED = 2


@dataclass(frozen=True)
class CellSnapshot:
    cell_id: int
    size: str
    locked: bool
    door_closed: bool
    occupancy: Occupancy
    reserved: bool
    reservation_id: str
    reservation_expires: float  # ROS seconds; 0: none, or held until pickup
    fault: bool
    fault_reason: str


@dataclass(frozen=True)
class LockerSnapshot:
    locker_id: str
    mode: Mode
    cells: tuple[CellSnapshot, ...]
    free_cells: int
    message: str


# What a request to move a lock gives back: an outcome now, or a command in flight to wait for.
Request = Outcome | Pending


class LockerCore:
    def __init__(self, locker_id: str, sizes: Sequence[str], reservation_ttl: float = 1800.0,
                 command_timeout: float = 3.0, command_retry: float = 0.5) -> None:
        self.locker_id = locker_id
        self.inventory = Inventory(sizes, reservation_ttl)
        self.commands = CommandTracker(command_timeout, command_retry)
        self.hardware: HardwareState | None = None
        self.synced = False
        self.offline_reason = "controller not connected yet"
        self._cell_faults: dict[int, str] = {}   # cell -> a command on it failed
        self._maintenance: set[int] = set()      # cells opened with maintenance=true, until locked again
        self._outbox: list[Command] = []

    # ------------------------------------------------------------------------------------------ device

    @property
    def online(self) -> bool:
        return self.synced and self.hardware is not None

    def set_device_online(self, online: bool, reason: str = "") -> list[Pending]:
        """The rosserial session gained or lost sync (or the device's state went stale). Losing it fails every
        command in flight; nothing is resent after it comes back."""
        was_online = self.online
        self.synced = online
        if online:
            self.offline_reason = ""
            return []
        self.offline_reason = reason or "controller out of sync"
        if not was_online:
            return []
        self.hardware = None  # what we knew may have changed while we could not see it
        return self.commands.fail_all(f"locker went offline ({self.offline_reason})")

    def on_hardware(self, state: HardwareState) -> list[Pending]:
        if not self.synced:
            return []  # a late message from before the link dropped
        self.hardware = state
        for cell in list(self._maintenance):
            if not state.has(cell) or state.is_locked(cell):
                self._maintenance.discard(cell)
        finished = self.commands.on_state(state)
        self._note_faults(finished)
        return finished

    def expire_reservations(self, ros_now: float) -> list[Reservation]:
        return self.inventory.expire(ros_now)

    def tick_commands(self, wall_now: float) -> list[Pending]:
        """Fails commands past their deadline and queues resends of the others."""
        failed = self.commands.expire(wall_now)
        self._note_faults(failed)
        if self.online:
            self._outbox += self.commands.resends(wall_now)
        return failed

    def take_outbox(self) -> list[Command]:
        out, self._outbox = self._outbox, []
        return out

    def _note_faults(self, finished: list[Pending]) -> None:
        for pending in finished:
            command = pending.command
            if command.action == Action.LOCK_ALL or pending.outcome is None:
                continue
            if pending.outcome.success:
                self._cell_faults.pop(command.cell_id, None)
            elif "superseded" not in pending.outcome.message and "offline" not in pending.outcome.message:
                self._cell_faults[command.cell_id] = pending.outcome.message

    # ------------------------------------------------------------------------------------------ requests

    def reserve(self, reservation_id: str, size: str, cell_id: int, ttl: float,
                ros_now: float) -> tuple[Reservation, str]:
        if not self.online:
            raise LockerError(f"locker {self.locker_id} is offline ({self.offline_reason})")
        return self.inventory.reserve(reservation_id, size, cell_id, ttl, ros_now, self._blocked)

    def release(self, reservation_id: str) -> str:
        if not reservation_id:
            raise LockerError("reservation_id is empty")
        released = self.inventory.release(reservation_id)
        return f"released cell {released.cell_id}" if released else "no such reservation (already released)"

    def open_cell(self, cell_id: int, reservation_id: str, maintenance: bool, ros_now: float,
                  wall_now: float) -> Request:
        if not maintenance:
            reservation = self.inventory.get(reservation_id) if reservation_id else None
            if reservation is None:
                raise LockerError(f"no reservation {reservation_id!r}: a cell opens only for its reservation")
            cell_id = cell_id or reservation.cell_id
            if reservation.cell_id != cell_id:
                raise LockerError(f"reservation {reservation_id} holds cell {reservation.cell_id}, not {cell_id}")
            if not reservation.held and ros_now >= reservation.expires:
                self.inventory.release(reservation_id)
                raise LockerError(f"reservation {reservation_id} has expired")
        self._check_openable(cell_id)
        if not maintenance:
            self.inventory.hold(reservation_id)
        else:
            self._maintenance.add(cell_id)
        return self._move(cell_id, Action.UNLOCK, wall_now)

    def open_for_pickup(self, delivery_id: str, cell_id: int, wall_now: float) -> Request:
        """Opens the cell a validated pickup code named; refused when another delivery holds that cell."""
        self._check_openable(cell_id)
        holder = self.inventory.for_cell(cell_id)
        if holder is not None and holder.reservation_id != delivery_id:
            raise LockerError(f"cell {cell_id} holds another delivery")
        if holder is not None:
            self.inventory.hold(delivery_id)
        return self._move(cell_id, Action.UNLOCK, wall_now)

    def close_cell(self, cell_id: int, wall_now: float) -> Request:
        self.inventory.check_cell(cell_id)
        self._check_online(cell_id)
        return self._move(cell_id, Action.LOCK, wall_now)

    def lock_all(self, wall_now: float) -> Request:
        if not self.online:
            raise LockerError(f"locker {self.locker_id} is offline ({self.offline_reason})")
        assert self.hardware is not None
        if self.hardware.all_locked():
            return Outcome(True, "every cell is locked")
        pending, _superseded = self.commands.issue(0, Action.LOCK_ALL, wall_now)
        self._outbox.append(pending.command)
        return pending

    def finish_pickup(self, delivery_id: str, cell_id: int) -> Outcome:
        """The customer closed the door and the cell is locked again: free the cell if it is empty."""
        if self.hardware is not None and self.hardware.has(cell_id) and self.hardware.is_occupied(cell_id):
            return Outcome(False, f"a parcel is still in cell {cell_id}")
        self.inventory.release(delivery_id)
        return Outcome(True, "picked up")

    def _check_online(self, cell_id: int) -> None:
        if not self.online:
            raise LockerError(f"locker {self.locker_id} is offline ({self.offline_reason})")
        assert self.hardware is not None
        if not self.hardware.has(cell_id):
            raise LockerError(f"cell {cell_id} is not wired on the controller ({self.hardware.cell_count} cells)")

    def _check_openable(self, cell_id: int) -> None:
        self.inventory.check_cell(cell_id)
        self._check_online(cell_id)

    def _move(self, cell_id: int, action: Action, wall_now: float) -> Request:
        assert self.hardware is not None
        if self.hardware.is_locked(cell_id) == (action == Action.LOCK):  # already there: opening is idempotent
            return Outcome(True, f"cell {cell_id} is already {'locked' if action == Action.LOCK else 'open'}")
        pending, _superseded = self.commands.issue(cell_id, action, wall_now)
        if pending.last_sent == wall_now and pending.command not in self._outbox:
            self._outbox.append(pending.command)
        return pending

    def _blocked(self, cell_id: int) -> str | None:
        faults = self._faults(cell_id)
        if faults:
            return f"cell {cell_id} is faulty ({faults})"
        if self.hardware is not None and self.hardware.has(cell_id) and self.hardware.is_occupied(cell_id):
            return f"cell {cell_id} is occupied"
        return None

    def _faults(self, cell_id: int) -> str:
        reasons = []
        hw = self.hardware
        if hw is not None and not hw.has(cell_id):
            reasons.append(f"not wired on the controller ({hw.cell_count} cells)")
        elif hw is not None and hw.is_faulty(cell_id):
            reasons.append("door open while locked")
        if cell_id in self._cell_faults:
            reasons.append(self._cell_faults[cell_id])
        return "; ".join(reasons)

    # ------------------------------------------------------------------------------------------ state

    def mode(self) -> Mode:
        if not self.online:
            return Mode.OFFLINE
        if self._maintenance:
            return Mode.MAINTENANCE
        hw = self.hardware
        assert hw is not None
        if any(hw.has(c) and (not hw.is_locked(c) or not hw.is_door_closed(c)) for c in self.inventory.cell_ids):
            return Mode.BUSY
        return Mode.ONLINE

    def snapshot(self) -> LockerSnapshot:
        hw = self.hardware
        cells = []
        for cell_id in self.inventory.cell_ids:
            reservation = self.inventory.for_cell(cell_id)
            wired = hw is not None and hw.has(cell_id)
            if wired and self.online:
                occupancy = Occupancy.OCCUPIED if hw.is_occupied(cell_id) else Occupancy.EMPTY
            else:
                occupancy = Occupancy.UNKNOWN
            faults = self._faults(cell_id)
            cells.append(CellSnapshot(
                cell_id=cell_id,
                size=self.inventory.sizes[cell_id - 1],
                locked=hw.is_locked(cell_id) if wired else True,
                door_closed=hw.is_door_closed(cell_id) if wired else True,
                occupancy=occupancy,
                reserved=reservation is not None,
                reservation_id=reservation.reservation_id if reservation else "",
                reservation_expires=reservation.expires if reservation and not reservation.held else 0.0,
                fault=bool(faults),
                fault_reason=faults,
            ))
        mode = self.mode()
        free = 0 if mode == Mode.OFFLINE else sum(
            1 for c in cells if not c.reserved and not c.fault and c.occupancy != Occupancy.OCCUPIED)
        if mode == Mode.OFFLINE:
            message = f"offline: {self.offline_reason}"
        elif mode == Mode.MAINTENANCE:
            message = "maintenance: cell " + ", ".join(str(c) for c in sorted(self._maintenance)) + " open"
        else:
            message = ""
        return LockerSnapshot(self.locker_id, mode, tuple(cells), free, message)
