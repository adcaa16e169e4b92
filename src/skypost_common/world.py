"""The site description: bases, lockers and drones, loaded from a YAML file (config/world.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CELL_SIZES = ("S", "M", "L")


class WorldError(ValueError):
    """The world file is malformed; the message names the offending entry."""


@dataclass(frozen=True)
class Base:
    id: str
    position: tuple[float, float, float]
    marker_id: int


@dataclass(frozen=True)
class Locker:
    id: str
    name: str
    position: tuple[float, float, float]
    marker_id: int
    cells: tuple[str, ...]  # size of cell 1..N


@dataclass(frozen=True)
class Drone:
    id: str
    base: str
    start: tuple[float, float]


@dataclass(frozen=True)
class World:
    frame_id: str
    bases: dict[str, Base] = field(default_factory=dict)
    lockers: dict[str, Locker] = field(default_factory=dict)
    drones: dict[str, Drone] = field(default_factory=dict)

    def marker_positions(self) -> dict[int, tuple[float, float, float]]:
        """Every ArUco marker on the ground, by id."""
        markers = {b.marker_id: b.position for b in self.bases.values()}
        markers.update({lk.marker_id: lk.position for lk in self.lockers.values()})
        return markers


def _point(value: Any, dims: int, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != dims:
        raise WorldError(f"{where}: expected a list of {dims} numbers, got {value!r}")
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise WorldError(f"{where}: {exc}") from exc


def _require(entry: dict, key: str, where: str) -> Any:
    if key not in entry:
        raise WorldError(f"{where}: missing '{key}'")
    return entry[key]


def parse_world(data: dict) -> World:
    """Build a World from the parsed YAML mapping, validating every entry."""
    if not isinstance(data, dict):
        raise WorldError("world: expected a mapping at the top level")
    bases: dict[str, Base] = {}
    for i, entry in enumerate(data.get("bases") or []):
        where = f"bases[{i}]"
        base_id = str(_require(entry, "id", where))
        bases[base_id] = Base(
            base_id, _point(_require(entry, "position", where), 3, where), int(entry.get("marker_id", 0))
        )
    lockers: dict[str, Locker] = {}
    for i, entry in enumerate(data.get("lockers") or []):
        where = f"lockers[{i}]"
        locker_id = str(_require(entry, "id", where))
        cells = tuple(str(c).upper() for c in _require(entry, "cells", where))
        bad = [c for c in cells if c not in CELL_SIZES]
        if bad or not cells:
            raise WorldError(f"{where}: cells must be a non-empty list of {CELL_SIZES}, got {bad or cells}")
        lockers[locker_id] = Locker(
            locker_id,
            str(entry.get("name", locker_id)),
            _point(_require(entry, "position", where), 3, where),
            int(_require(entry, "marker_id", where)),
            cells,
        )
    drones: dict[str, Drone] = {}
    for i, entry in enumerate(data.get("drones") or []):
        where = f"drones[{i}]"
        drone_id = str(_require(entry, "id", where))
        base = str(_require(entry, "base", where))
        if base not in bases:
            raise WorldError(f"{where}: unknown base '{base}'")
        start = _point(entry.get("start", bases[base].position[:2]), 2, where)
        drones[drone_id] = Drone(drone_id, base, start)
    markers = [b.marker_id for b in bases.values()] + [lk.marker_id for lk in lockers.values()]
    if len(markers) != len(set(markers)):
        raise WorldError(f"marker ids must be unique, got {markers}")
    return World(str(data.get("frame_id", "map")), bases, lockers, drones)


def load_world(path: str | Path) -> World:
    """Read and validate a world YAML file."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise WorldError(f"cannot read world file {path}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise WorldError(f"world file {path} is not valid YAML: {exc}") from exc
    return parse_world(data)
