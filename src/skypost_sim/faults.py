"""Fault injection into simulated drones: the faults of srv/InjectFault.srv, applied to a Simulation. Pure."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .simulation import Simulation


class FaultError(ValueError):
    """Unknown drone or fault, or a value out of range."""


@dataclass(frozen=True)
class FaultRequest:
    drone_id: str
    fault: str
    value: float


def _navigate_refuse(sim: Simulation, i: int, value: float) -> str:
    if value < 0:
        raise FaultError("navigate_refuse needs a count >= 0")
    sim.navigate_refusals[i] = int(value)
    return f"the next {int(value)} navigate calls are refused"


def _battery_sag(sim: Simulation, i: int, value: float) -> str:
    if not 0.0 <= value <= 1.0:
        raise FaultError("battery_sag needs a fraction in 0..1")
    sim.battery.sag(i, value)
    return f"battery lost {value:.0%} at once, now {sim.battery.charge[i]:.0%}"


def _battery_drain(sim: Simulation, i: int, value: float) -> str:
    if not value > 0:
        raise FaultError("battery_drain needs a multiplier > 0")
    sim.battery.drain_scale[i] = value
    return f"battery drains {value:g}x as fast"


def _battery_unknown(sim: Simulation, i: int, value: float) -> str:
    sim.battery.unknown[i] = value >= 0.5
    return "battery reported as unknown" if value >= 0.5 else "battery reported normally"


def _telemetry_stop(sim: Simulation, i: int, value: float) -> str:
    if value < 0:
        raise FaultError("telemetry_stop needs seconds >= 0")
    sim.telemetry_stop_until[i] = sim.now + value
    return f"FCU link down for {value:g} s (sim time)"


def _hide_marker(sim: Simulation, _i: int, value: float) -> str:
    if value < 0:
        sim.hidden_markers.clear()
        return "every marker visible again"
    marker_id = int(value)
    if marker_id not in sim.markers:
        raise FaultError(f"no marker {marker_id} on this site (markers: {sorted(sim.markers)})")
    sim.hidden_markers.add(marker_id)
    return f"marker {marker_id} hidden from every camera"


def _wind(sim: Simulation, i: int, value: float) -> str:
    if abs(value) > 30:
        raise FaultError("wind needs a speed within ±30 m/s")
    sim.fault_wind[i] = (value, 0.0, 0.0)
    return f"wind {value:g} m/s along x"


def _clear(sim: Simulation, i: int, _value: float) -> str:
    sim.navigate_refusals[i] = 0
    sim.telemetry_stop_until[i] = -np.inf
    sim.fault_wind[i] = 0.0
    sim.battery.unknown[i] = False
    sim.battery.drain_scale[i] = 1.0
    return "faults of this drone cleared (hidden markers stay hidden: hide_marker -1 shows them)"


FAULTS: dict[str, Callable[[Simulation, int, float], str]] = {
    "navigate_refuse": _navigate_refuse,
    "battery_sag": _battery_sag,
    "battery_drain": _battery_drain,
    "battery_unknown": _battery_unknown,
    "telemetry_stop": _telemetry_stop,
    "hide_marker": _hide_marker,
    "wind": _wind,
    "clear": _clear,
}


def apply_fault(sim: Simulation, request: FaultRequest) -> str:
    """Apply one fault; returns what it did. Raises FaultError on bad input (nothing changed then)."""
    handler = FAULTS.get(request.fault)
    if handler is None:
        raise FaultError(f"unknown fault '{request.fault}' (known: {', '.join(FAULTS)})")
    if not math.isfinite(request.value):
        raise FaultError(f"{request.fault} needs a finite value, got {request.value}")
    try:
        i = sim.drone(request.drone_id)
    except KeyError as exc:
        raise FaultError(str(exc.args[0])) from None
    with sim.lock:
        return handler(sim, i, request.value)


def parse_faults(text: str) -> list[FaultRequest]:
    """Initial faults from a param: "drone_1:battery_drain:3, drone_2:hide_marker:11" (value optional for clear).

    Raises FaultError naming the bad entry; the fault names and drone ids are checked when applied.
    """
    requests = []
    for entry in (part.strip() for part in text.replace(";", ",").split(",")):
        if not entry:
            continue
        fields = [f.strip() for f in entry.split(":")]
        if len(fields) == 2:
            fields.append("0")
        if len(fields) != 3 or not fields[0] or not fields[1]:
            raise FaultError(f"fault entry '{entry}': expected drone:fault:value")
        try:
            value = float(fields[2])
        except ValueError:
            raise FaultError(f"fault entry '{entry}': value '{fields[2]}' is not a number") from None
        requests.append(FaultRequest(fields[0], fields[1], value))
    return requests
