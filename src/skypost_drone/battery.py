"""Battery readings from mavros/battery, with "unknown" kept explicit (MAVROS sends -0.01 / no cells)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

NAN = float("nan")
CELL_MIN_V = 3.0   # Clover's preflight: a cell below 3.0 V or above 4.3 V fails
CELL_MAX_V = 4.3


@dataclass(frozen=True)
class BatteryReading:
    percentage: float      # 0..1, NaN when unknown
    voltage: float         # NaN when unknown
    cell_voltage: float    # mean cell voltage, NaN when unknown

    @property
    def known(self) -> bool:
        return not math.isnan(self.percentage)

    @classmethod
    def unknown(cls) -> BatteryReading:
        return cls(NAN, NAN, NAN)

    @classmethod
    def from_mavros(cls, percentage: float, voltage: float, cell_voltage: Sequence[float]) -> BatteryReading:
        pct = percentage if 0.0 <= percentage <= 1.0 and not math.isnan(percentage) else NAN
        cells = [v for v in cell_voltage if v > 0 and not math.isnan(v)]
        cell = sum(cells) / len(cells) if cells else NAN
        volts = voltage if voltage > 0 and not math.isnan(voltage) else NAN
        return cls(pct, volts, cell)

    def preflight_problem(self, minimum: float) -> str | None:
        """Why this battery must not take off, or None."""
        if not self.known:
            return "battery state unknown"
        if not math.isnan(self.cell_voltage) and not CELL_MIN_V <= self.cell_voltage <= CELL_MAX_V:
            return f"cell voltage {self.cell_voltage:.2f} V outside {CELL_MIN_V}-{CELL_MAX_V} V"
        if self.percentage < minimum:
            return f"battery {self.percentage:.0%} below the {minimum:.0%} needed to take off"
        return None
