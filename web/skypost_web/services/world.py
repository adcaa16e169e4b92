"""Lockers from the site description (config/world.yaml), for seeding the database."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

SIZES = ("S", "M", "L")


class WorldFileError(ValueError):
    """The world file cannot be read or a locker entry is malformed."""


@dataclass(frozen=True)
class LockerSpec:
    id: str
    name: str
    position: tuple[float, float, float]
    marker_id: int
    cells: tuple[str, ...]


def load_lockers(path: str | Path) -> list[LockerSpec]:
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise WorldFileError(f"{path}: {exc}") from exc
    lockers = []
    for i, entry in enumerate((data or {}).get("lockers") or []):
        where = f"{path}: lockers[{i}]"
        try:
            position = tuple(float(v) for v in entry["position"])
            cells = tuple(str(c) for c in entry["cells"])
            spec = LockerSpec(str(entry["id"]), str(entry.get("name") or entry["id"]), position,  # type: ignore[arg-type]
                              int(entry.get("marker_id", 0)), cells)
        except (KeyError, TypeError, ValueError) as exc:
            raise WorldFileError(f"{where}: {exc!r}") from exc
        if len(spec.position) != 3 or not set(spec.cells) <= set(SIZES):
            raise WorldFileError(f"{where}: position needs 3 numbers and cells only {SIZES}")
        lockers.append(spec)
    return lockers
