"""The locker controller's raw state and commands (skypost/LockerHardwareState, skypost/LockerCommand) as plain
Python: bit i of each mask is cell i + 1. No ROS."""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Action(IntEnum):
    """LockerCommand.command values."""

    UNLOCK = 1
    LOCK = 2
    LOCK_ALL = 3


class DeviceResult(IntEnum):
    """LockerHardwareState.last_command_result values."""

    OK = 0
    BAD_CELL = 1
    BAD_COMMAND = 2


def bit(cell_id: int) -> int:
    return 1 << (cell_id - 1)


@dataclass(frozen=True)
class HardwareState:
    cell_count: int
    locked: int = 0
    door_closed: int = 0
    occupied: int = 0
    fault: int = 0
    last_command_seq: int = 0
    last_command_result: int = 0
    uptime_ms: int = 0

    def has(self, cell_id: int) -> bool:
        return 1 <= cell_id <= self.cell_count

    def is_locked(self, cell_id: int) -> bool:
        return bool(self.locked & bit(cell_id))

    def is_door_closed(self, cell_id: int) -> bool:
        return bool(self.door_closed & bit(cell_id))

    def is_occupied(self, cell_id: int) -> bool:
        return bool(self.occupied & bit(cell_id))

    def is_faulty(self, cell_id: int) -> bool:
        return bool(self.fault & bit(cell_id))

    def all_locked(self) -> bool:
        mask = (1 << self.cell_count) - 1
        return self.locked & mask == mask


@dataclass(frozen=True)
class Command:
    seq: int
    cell_id: int
    action: Action
