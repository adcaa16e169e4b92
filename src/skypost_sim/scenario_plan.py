"""What a scenario does and when, decided before it runs (pure, seeded): orders arriving as a Poisson process,
customers' pickup delays, and faults at given sim times.

Times are sim seconds from the scenario's start (the moment the site is up and the first order may arrive).
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

CELL_SIZES = ("S", "M", "L")
FAULT_KINDS = ("battery_sag", "drone_lost", "locker_offline", "wind")
DEFAULT_FAULT_VALUES = {"battery_sag": 0.5, "drone_lost": 0.0, "locker_offline": 0.0, "wind": 6.0}
FOREVER = 1.0e9  # s of sim time: telemetry_stop for a drone that is lost for good


class PlanError(ValueError):
    """A scenario parameter or fault spec that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class PlannedOrder:
    delivery_id: str
    at: float               # sim s after the scenario start
    locker_id: str          # "" lets the fleet pick
    cell_size: str
    weight_kg: float
    priority: int = 0


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    at: float               # sim s after the scenario start
    value: float
    target: str = ""        # drone or locker id; "" = chosen at random when it fires

    def describe(self) -> str:
        value = "" if self.kind in ("drone_lost", "locker_offline") else f"={self.value:g}"
        return f"{self.kind}{value} at {self.at:g} s on {self.target or 'a random target'}"


FAULT_PATTERN = re.compile(r"^(?P<kind>[a-z_]+)@(?P<at>[0-9.]+)(=(?P<value>-?[0-9.]+))?(:(?P<target>[\w]+))?$")


def parse_fault(text: str) -> FaultSpec:
    """'KIND@T[=VALUE][:TARGET]', e.g. battery_sag@120=0.6, drone_lost@300:drone_2, locker_offline@200, wind@60=8."""
    match = FAULT_PATTERN.match(text.strip())
    if not match:
        raise PlanError(f"fault {text!r}: expected KIND@T[=VALUE][:TARGET], e.g. battery_sag@120=0.6:drone_2")
    kind = match["kind"]
    if kind not in FAULT_KINDS:
        raise PlanError(f"fault {text!r}: unknown kind {kind!r} (known: {', '.join(FAULT_KINDS)})")
    try:
        at = float(match["at"])
        value = float(match["value"]) if match["value"] is not None else DEFAULT_FAULT_VALUES[kind]
    except ValueError:
        raise PlanError(f"fault {text!r}: time and value must be numbers") from None
    if kind == "battery_sag" and not 0.0 < value <= 1.0:
        raise PlanError(f"fault {text!r}: battery_sag needs a fraction in (0, 1]")
    if kind == "wind" and abs(value) > 30.0:
        raise PlanError(f"fault {text!r}: wind needs a speed within ±30 m/s")
    target = match["target"] or ""
    if kind == "wind" and target:
        raise PlanError(f"fault {text!r}: wind blows on every drone, it takes no target")
    return FaultSpec(kind, at, value, target)


def check_fault_targets(faults: Sequence[FaultSpec], drones: Sequence[str], lockers: Sequence[str]) -> None:
    for fault in faults:
        known = lockers if fault.kind == "locker_offline" else drones
        if fault.target and fault.target not in known:
            raise PlanError(f"fault {fault.describe()}: no {fault.target!r} on this site (known: {', '.join(known)})")


def arrival_times(count: int, rate_per_min: float, rng: random.Random) -> list[float]:
    """A Poisson process: exponential gaps with mean 60 / rate sim seconds; the first order after one gap."""
    if count < 0:
        raise PlanError(f"order count must be >= 0, got {count}")
    if not rate_per_min > 0:
        raise PlanError(f"order rate must be > 0 per minute, got {rate_per_min}")
    times, now = [], 0.0
    for _ in range(count):
        now += rng.expovariate(rate_per_min / 60.0)
        times.append(now)
    return times


def plan_orders(count: int, rate_per_min: float, lockers: Sequence[str], rng: random.Random, prefix: str = "scn",
                size_weights: Sequence[float] = (0.6, 0.3, 0.1), choose_locker: bool = True) -> list[PlannedOrder]:
    """`count` orders; each customer chooses a locker at random (or, with choose_locker false, the fleet does)."""
    if choose_locker and not lockers:
        raise PlanError("no lockers to choose from")
    orders = []
    for i, at in enumerate(arrival_times(count, rate_per_min, rng)):
        size = rng.choices(CELL_SIZES, weights=size_weights)[0]
        locker = rng.choice(list(lockers)) if choose_locker else ""
        weight = round(rng.uniform(0.1, 0.9), 2)
        orders.append(PlannedOrder(f"{prefix}-{i + 1:04d}", round(at, 3), locker, size, weight))
    return orders


def pickup_delay(rng: random.Random, mean: float) -> float:
    """Sim seconds from the parcel reaching its cell to the customer showing up (exponential, mean `mean`)."""
    return rng.expovariate(1.0 / mean) if mean > 0 else 0.0


def pick_drone(rng: random.Random, drones: Sequence[str], busy: Sequence[str]) -> str:
    """A random drone, a flying one when any is flying (a fault on a parked drone shows little)."""
    pool = list(busy) or list(drones)
    if not pool:
        raise PlanError("no drone to pick")
    return rng.choice(sorted(pool))
