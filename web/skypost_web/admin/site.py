"""The site layout the admin panel's map needs and ROS does not publish: base stations, drones' home bases and the
lockers' names (positions and cells come live from /fleet/summary). Read from the world file (config/world.yaml)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SiteFileError(ValueError):
    """The world file cannot be read or an entry is malformed; the message names the file and the entry."""


def _point(value: Any, where: str) -> list[float]:
    try:
        point = [float(v) for v in value]
    except (TypeError, ValueError) as exc:
        raise SiteFileError(f"{where}: expected a list of numbers, got {value!r}") from exc
    if len(point) not in (2, 3):
        raise SiteFileError(f"{where}: expected 2 or 3 coordinates, got {len(point)}")
    return point + [0.0] * (3 - len(point))


def load_site(path: str | Path) -> dict[str, Any]:
    """{"frame_id", "bases": [{id, position, marker_id}], "lockers": [{id, name, position, marker_id, cells}],
    "drones": [{id, base}]} from the world file at `path`."""
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SiteFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SiteFileError(f"{path}: expected a mapping at the top level")
    site: dict[str, Any] = {"frame_id": str(data.get("frame_id") or "map"), "bases": [], "lockers": [], "drones": []}
    try:
        for i, base in enumerate(data.get("bases") or []):
            site["bases"].append({"id": str(base["id"]), "position": _point(base["position"], f"{path}: bases[{i}]"),
                                  "marker_id": int(base.get("marker_id", 0))})
        for i, locker in enumerate(data.get("lockers") or []):
            site["lockers"].append({"id": str(locker["id"]), "name": str(locker.get("name") or locker["id"]),
                                    "position": _point(locker["position"], f"{path}: lockers[{i}]"),
                                    "marker_id": int(locker.get("marker_id", 0)),
                                    "cells": [str(c) for c in locker.get("cells") or []]})
        for drone in data.get("drones") or []:
            site["drones"].append({"id": str(drone["id"]), "base": str(drone.get("base") or "")})
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, SiteFileError):
            raise
        raise SiteFileError(f"{path}: malformed entry: {exc!r}") from exc
    return site
