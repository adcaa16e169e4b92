"""The locker node's configuration, read once from its ~params (a `get(name, default)` callable) and validated."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from skypost_common.world import CELL_SIZES, WorldError, load_world

Getter = Callable[[str, Any], Any]


@dataclass(frozen=True)
class LockerConfig:
    locker_id: str
    cells: tuple[str, ...]                      # size of cell 1..N
    marker_id: int = 0
    position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    port: str = ""                              # serial port of the controller; "" = a separate serial_node
    baud: int = 57600
    sync_timeout: float = 5.0                   # s (wall) without a frame from the controller: out of sync
    device_timeout: float = 3.0                 # s (wall) without device/state: OFFLINE
    command_timeout: float = 3.0                # s (wall) for the controller to confirm a lock change
    command_retry: float = 0.5                  # s (wall) between resends of an unconfirmed command
    reservation_ttl: float = 1800.0             # s (ROS) a reservation lasts when the caller gives no ttl
    state_rate: float = 1.0                     # Hz: state and diagnostics (and on every change)
    camera: bool = True                         # run the QR pipeline on camera/image_raw
    qr_rate: float = 5.0                        # Hz: at most this many camera frames decoded
    validate_service: str = "/skypost/validate_pickup"
    validate_timeout: float = 5.0               # s for the web app to answer a code
    code_limit: int = 5                         # codes sent for validation per code_window (per locker)
    code_window: float = 60.0                   # s
    code_forget: float = 2.0                    # s out of view before the same code counts as shown again
    door_open_timeout: float = 60.0             # s (wall) for a customer to open the door of the cell opened for them
    door_close_timeout: float = 300.0           # s (wall) for the customer to close it again
    display_hold: float = 8.0                   # s a result stays on the screen

    def validate(self) -> None:
        if not self.locker_id:
            raise ValueError("locker_id is empty")
        if not self.cells or any(c not in CELL_SIZES for c in self.cells):
            raise ValueError(f"cells must be a non-empty list of {CELL_SIZES}, got {list(self.cells)}")
        if len(self.cells) > 16:
            raise ValueError(f"a controller drives at most 16 cells, got {len(self.cells)}")
        positive = ("sync_timeout", "device_timeout", "command_timeout", "command_retry", "reservation_ttl",
                    "state_rate", "qr_rate", "validate_timeout", "code_window", "door_open_timeout",
                    "door_close_timeout", "baud")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.code_limit < 1:
            raise ValueError(f"code_limit must be >= 1, got {self.code_limit}")


def parse_cells(value: Any) -> tuple[str, ...]:
    """'S,S,M' or ['S', 'S', 'M'] -> ('S', 'S', 'M')."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    return tuple(str(item).strip().upper() for item in items if str(item).strip())


def read_config(get: Getter) -> LockerConfig:
    locker_id = str(get("locker_id", "")).strip()
    cells = parse_cells(get("cells", ""))
    marker_id, position = 0, (0.0, 0.0, 0.0)
    world_path = str(get("world", "") or "")
    if world_path:
        try:
            world = load_world(world_path)
        except WorldError as exc:
            raise ValueError(str(exc)) from exc
        locker = world.lockers.get(locker_id)
        if locker is None:
            raise ValueError(f"locker {locker_id!r} is not in {world_path} (lockers: {', '.join(world.lockers)})")
        cells = cells or locker.cells
        marker_id, position = locker.marker_id, locker.position
    defaults = LockerConfig(locker_id, cells)
    values: dict[str, Any] = {}
    for name in ("port", "baud", "sync_timeout", "device_timeout", "command_timeout", "command_retry",
                 "reservation_ttl", "state_rate", "camera", "qr_rate", "validate_service", "validate_timeout",
                 "code_limit", "code_window", "code_forget", "door_open_timeout", "door_close_timeout",
                 "display_hold"):
        default = getattr(defaults, name)
        raw = get(name, default)
        try:
            values[name] = type(default)(raw) if not isinstance(default, bool) else _bool(raw)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{name}: {raw!r} is not a {type(default).__name__}") from exc
    config = LockerConfig(locker_id, cells, marker_id, position, **values)
    config.validate()
    return config


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)
