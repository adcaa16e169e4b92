"""Cells and their reservations. Pure; times are ROS seconds (float) handed in by the caller.

A reservation holds one cell for one reservation id (the delivery id). It expires at `expires` unless it is `held`:
once its cell has been opened for it the cell may hold the parcel, so it is kept until a pickup or an explicit
release_cell ends it.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from skypost_common.world import CELL_SIZES


class LockerError(Exception):
    """A request the locker refuses; the message says why (it goes back to the caller as `message`)."""


@dataclass
class Reservation:
    reservation_id: str
    cell_id: int
    expires: float
    held: bool = False


# cell id -> why it cannot be given out now (None: it can)
Blocker = Callable[[int], "str | None"]


class Inventory:
    def __init__(self, sizes: Sequence[str], default_ttl: float) -> None:
        sizes = tuple(str(s).upper() for s in sizes)
        if not sizes:
            raise ValueError("a locker needs at least one cell")
        bad = [s for s in sizes if s not in CELL_SIZES]
        if bad:
            raise ValueError(f"cell sizes must be {CELL_SIZES}, got {bad}")
        if default_ttl <= 0:
            raise ValueError(f"reservation ttl must be positive, got {default_ttl}")
        self.sizes = sizes
        self.default_ttl = default_ttl
        self._by_id: dict[str, Reservation] = {}

    @property
    def cell_ids(self) -> range:
        return range(1, len(self.sizes) + 1)

    def size(self, cell_id: int) -> str:
        self.check_cell(cell_id)
        return self.sizes[cell_id - 1]

    def check_cell(self, cell_id: int) -> None:
        if cell_id not in self.cell_ids:
            raise LockerError(f"no cell {cell_id} (cells are 1..{len(self.sizes)})")

    def get(self, reservation_id: str) -> Reservation | None:
        return self._by_id.get(reservation_id)

    def for_cell(self, cell_id: int) -> Reservation | None:
        return next((r for r in self._by_id.values() if r.cell_id == cell_id), None)

    @property
    def reservations(self) -> list[Reservation]:
        return list(self._by_id.values())

    def reserve(self, reservation_id: str, size: str, cell_id: int, ttl: float, now: float,
                blocked: Blocker) -> tuple[Reservation, str]:
        """Reserves a cell (idempotent by reservation id); returns it and what happened."""
        if not reservation_id:
            raise LockerError("reservation_id is empty")
        size = size.upper()
        if size not in CELL_SIZES:
            raise LockerError(f"size must be one of {CELL_SIZES}, got {size!r}")
        if ttl < 0:
            raise LockerError(f"ttl must not be negative, got {ttl}")
        expires = now + (ttl or self.default_ttl)
        existing = self._by_id.get(reservation_id)
        if existing is not None and cell_id in (0, existing.cell_id):
            if self.sizes[existing.cell_id - 1] != size:
                raise LockerError(f"{reservation_id} already holds cell {existing.cell_id} of size "
                                  f"{self.sizes[existing.cell_id - 1]}, not {size}")
            if not existing.held:
                existing.expires = max(existing.expires, expires)
            return existing, "already reserved"
        if existing is not None and existing.held:
            raise LockerError(f"{reservation_id} holds cell {existing.cell_id}, which was opened for it: release it "
                              f"before reserving another cell")
        candidates = [cell_id] if cell_id else [c for c in self.cell_ids if self.sizes[c - 1] == size]
        reasons = []
        for candidate in candidates:
            self.check_cell(candidate)
            why = self._why_not(candidate, size, blocked)
            if why is None:
                if existing is not None:  # moving to another cell (the first one would not open)
                    del self._by_id[reservation_id]
                reservation = Reservation(reservation_id, candidate, expires)
                self._by_id[reservation_id] = reservation
                return reservation, "reserved"
            reasons.append(why)
        if cell_id:
            raise LockerError(f"cell {cell_id} cannot be reserved: {reasons[0]}")
        raise LockerError(f"no free {size} cell")

    def _why_not(self, cell_id: int, size: str, blocked: Blocker) -> str | None:
        if self.sizes[cell_id - 1] != size:
            return f"cell {cell_id} is {self.sizes[cell_id - 1]}, not {size}"
        holder = self.for_cell(cell_id)
        if holder is not None:
            return f"cell {cell_id} is reserved"
        return blocked(cell_id)

    def release(self, reservation_id: str) -> Reservation | None:
        return self._by_id.pop(reservation_id, None)

    def hold(self, reservation_id: str) -> None:
        reservation = self._by_id.get(reservation_id)
        if reservation is not None:
            reservation.held = True

    def expire(self, now: float) -> list[Reservation]:
        gone = [r for r in self._by_id.values() if not r.held and now >= r.expires]
        for reservation in gone:
            del self._by_id[reservation.reservation_id]
        return gone
