"""What the fleet knows about drones and lockers: the last /<drone>/state and /lockers/<id>/state, plus the
site layout from the world file. Pure: the node converts messages into the plain records below."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from skypost_common.world import World
from skypost_fleet.model import CELL_SIZES, Mission

OCCUPANCY_UNKNOWN, OCCUPANCY_EMPTY, OCCUPANCY_OCCUPIED = 0, 1, 2
MODE_UNKNOWN, MODE_ONLINE, MODE_BUSY, MODE_MAINTENANCE, MODE_OFFLINE = 0, 1, 2, 3, 4
MODE_NAMES = {0: "UNKNOWN", 1: "ONLINE", 2: "BUSY", 3: "MAINTENANCE", 4: "OFFLINE"}


@dataclass(frozen=True)
class DroneReport:
    """The fields of skypost/DroneState the fleet uses."""

    drone_id: str
    mission_state: int
    delivery_id: str = ""
    fcu_connected: bool = True
    battery_known: bool = False
    battery: float = math.nan  # 0..1
    x: float = math.nan
    y: float = math.nan
    telemetry_age: float = 0.0
    in_service: bool = True
    message: str = ""


@dataclass(frozen=True)
class CellReport:
    cell_id: int
    size: str
    occupancy: int = OCCUPANCY_UNKNOWN
    reserved: bool = False
    reservation_id: str = ""
    fault: bool = False

    @property
    def free(self) -> bool:
        return not self.reserved and not self.fault and self.occupancy != OCCUPANCY_OCCUPIED


@dataclass(frozen=True)
class LockerReport:
    locker_id: str
    mode: int
    cells: tuple[CellReport, ...] = ()

    @property
    def accepts(self) -> bool:
        return self.mode in (MODE_ONLINE, MODE_BUSY)


@dataclass
class DroneEntry:
    drone_id: str
    base_id: str
    base_xy: tuple[float, float]
    spot: tuple[float, float, float]  # its landing spot at the base (the Deliver goal's `base`)
    report: DroneReport | None = None
    last_seen: float = -math.inf
    idle_since: float = math.inf  # since when it reports IDLE without a delivery


@dataclass
class LockerEntry:
    locker_id: str
    xy: tuple[float, float]
    position: tuple[float, float, float]
    marker_id: int
    report: LockerReport | None = None
    last_seen: float = -math.inf


@dataclass
class Registry:
    drones: dict[str, DroneEntry] = field(default_factory=dict)
    lockers: dict[str, LockerEntry] = field(default_factory=dict)
    drone_timeout: float = 30.0
    max_telemetry_age: float = 5.0

    @classmethod
    def from_world(
        cls,
        world: World,
        drone_ids: list[str],
        locker_ids: list[str],
        drone_timeout: float,
        max_telemetry_age: float,
    ) -> Registry:
        reg = cls(drone_timeout=drone_timeout, max_telemetry_age=max_telemetry_age)
        for drone_id in drone_ids:
            spec = world.drones.get(drone_id)
            if spec is None:
                raise ValueError(f"drone {drone_id} is not in the world file")
            base = world.bases[spec.base]
            reg.drones[drone_id] = DroneEntry(
                drone_id, spec.base, base.position[:2], (spec.start[0], spec.start[1], base.position[2])
            )
        for locker_id in locker_ids:
            spec = world.lockers.get(locker_id)
            if spec is None:
                raise ValueError(f"locker {locker_id} is not in the world file")
            reg.lockers[locker_id] = LockerEntry(
                locker_id, spec.position[:2], spec.position, spec.marker_id
            )
        return reg

    # -- updates
    def drone_seen(self, report: DroneReport, now: float) -> None:
        entry = self.drones.get(report.drone_id)
        if entry is None:
            return
        idle = report.mission_state == Mission.IDLE and not report.delivery_id
        if not idle:
            entry.idle_since = math.inf
        elif entry.idle_since == math.inf:
            entry.idle_since = now
        entry.report = report
        entry.last_seen = now

    def locker_seen(self, report: LockerReport, now: float) -> None:
        entry = self.lockers.get(report.locker_id)
        if entry is not None:
            entry.report = report
            entry.last_seen = now

    # -- queries
    def start_clock(self, now: float) -> None:
        """Give every drone not heard from yet one timeout to report before it counts as OFFLINE."""
        for entry in self.drones.values():
            if entry.report is None:
                entry.last_seen = now

    def online(self, drone_id: str, now: float) -> bool:
        return now - self.drones[drone_id].last_seen <= self.drone_timeout

    def mission_state(self, drone_id: str, now: float) -> int:
        entry = self.drones[drone_id]
        if entry.report is None or not self.online(drone_id, now):
            return Mission.OFFLINE
        return entry.report.mission_state

    def unusable_reason(self, drone_id: str, now: float) -> str:
        """Empty when the drone could take a delivery now (ignoring what the fleet itself has given it)."""
        entry = self.drones[drone_id]
        r = entry.report
        if r is None:
            return "no state received yet"
        if not self.online(drone_id, now):
            return f"offline (no state for {now - entry.last_seen:.0f} s)"
        if not r.in_service:
            return "out of service (drone)"
        if r.mission_state != Mission.IDLE or r.delivery_id:
            name = Mission(r.mission_state).name if r.mission_state in iter(Mission) else r.mission_state
            return f"busy ({name})"
        if not r.fcu_connected:
            return "autopilot not connected"
        if r.telemetry_age > self.max_telemetry_age:
            return f"telemetry {r.telemetry_age:.1f} s old"
        if not r.battery_known or math.isnan(r.battery):
            return "battery unknown"
        return ""

    def position(self, drone_id: str) -> tuple[float, float]:
        entry = self.drones[drone_id]
        r = entry.report
        if r is not None and not (math.isnan(r.x) or math.isnan(r.y)):
            return (r.x, r.y)
        return entry.spot[:2]

    def battery(self, drone_id: str) -> float:
        r = self.drones[drone_id].report
        return r.battery if r is not None and r.battery_known else math.nan

    def locker_unusable_reason(self, locker_id: str) -> str:
        entry = self.lockers.get(locker_id)
        if entry is None:
            return f"unknown locker {locker_id}"
        if entry.report is None:
            return f"locker {locker_id}: no state received yet"
        if not entry.report.accepts:
            mode = MODE_NAMES.get(entry.report.mode, str(entry.report.mode))
            return f"locker {locker_id} is not online ({mode})"
        return ""

    def free_cells(self, locker_id: str) -> dict[str, list[int]]:
        """Free cell ids per size (none when the locker is not usable)."""
        free: dict[str, list[int]] = {size: [] for size in CELL_SIZES}
        entry = self.lockers.get(locker_id)
        if entry is None or entry.report is None or not entry.report.accepts:
            return free
        for cell in entry.report.cells:
            if cell.free and cell.size in free:
                free[cell.size].append(cell.cell_id)
        return free

    def cell(self, locker_id: str, cell_id: int) -> CellReport | None:
        entry = self.lockers.get(locker_id)
        if entry is None or entry.report is None:
            return None
        return next((c for c in entry.report.cells if c.cell_id == cell_id), None)
