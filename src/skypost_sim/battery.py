"""Battery model of N drones (numpy): drains while flying (hover + per metre flown), recharges while parked
disarmed at the drone's base, and reports what MAVROS would (percentage, pack and cell voltages, or "unknown")."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Resting LiPo cell voltage by state of charge (a typical discharge curve, coarse)
_CHARGE_POINTS = np.array([0.0, 0.05, 0.10, 0.20, 0.50, 0.80, 1.00])
_CELL_VOLTS = np.array([3.30, 3.55, 3.65, 3.72, 3.82, 4.00, 4.20])
LOAD_SAG_V = 0.08   # per cell while the motors work
MAVROS_UNKNOWN_PERCENTAGE = -0.01


@dataclass(frozen=True)
class BatteryConfig:
    cells: int = 4
    hover_drain_per_s: float = 1.0 / 900.0    # 15 min of hover from full
    forward_drain_per_m: float = 1.0 / 9000.0  # extra charge fraction per metre flown
    charge_per_s: float = 1.0 / 120.0          # full in ~2 min parked at the base (a swap or fast charge)
    base_radius: float = 3.0                   # m from the base's marker that counts as "at the base"

    def validate(self) -> None:
        if self.cells < 1:
            raise ValueError(f"battery cells must be >= 1, got {self.cells}")
        for name in ("hover_drain_per_s", "forward_drain_per_m", "charge_per_s", "base_radius"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"battery {name} must be a number >= 0, got {value!r}")


def cell_voltage(charge: np.ndarray | float, loaded: np.ndarray | bool = False) -> np.ndarray | float:
    """Cell voltage for a state of charge (0..1), lower under load."""
    if isinstance(charge, float) and isinstance(loaded, bool):   # one drone's reading: skip numpy's overhead
        return float(np.interp(charge, _CHARGE_POINTS, _CELL_VOLTS)) - (LOAD_SAG_V if loaded else 0.0)
    return np.interp(charge, _CHARGE_POINTS, _CELL_VOLTS) - np.where(loaded, LOAD_SAG_V, 0.0)


class BatteryBank:
    """The batteries of N drones."""

    def __init__(self, n: int, config: BatteryConfig, initial_charge: float = 1.0) -> None:
        config.validate()
        if not 0.0 <= initial_charge <= 1.0:
            raise ValueError(f"initial charge must be in 0..1, got {initial_charge}")
        self.config = config
        self.charge = np.full(n, float(initial_charge))
        self.drain_scale = np.ones(n)           # fault: a worn pack drains faster
        self.unknown = np.zeros(n, dtype=bool)  # fault: the FCU does not know its battery

    def step(self, dt: float, flying: np.ndarray, distance: np.ndarray, charging: np.ndarray) -> None:
        c = self.config
        used = (c.hover_drain_per_s * dt + c.forward_drain_per_m * distance) * self.drain_scale
        self.charge = np.where(flying, self.charge - used, self.charge)
        self.charge = np.where(charging & ~flying, self.charge + c.charge_per_s * dt, self.charge)
        np.clip(self.charge, 0.0, 1.0, out=self.charge)

    def sag(self, i: int, fraction: float) -> None:
        self.charge[i] = max(0.0, self.charge[i] - fraction)

    def reading(self, i: int, loaded: bool) -> tuple[float, float, list[float]]:
        """(percentage, pack voltage, cell voltages) as MAVROS reports them; unknown: (-0.01, NaN, [])."""
        if self.unknown[i]:
            return MAVROS_UNKNOWN_PERCENTAGE, math.nan, []
        cell = float(cell_voltage(float(self.charge[i]), bool(loaded)))
        return float(self.charge[i]), cell * self.config.cells, [cell] * self.config.cells
