"""Parcel lockers: position, marker, cells by size."""
from __future__ import annotations

from collections import Counter

from apiflask import APIBlueprint
from sqlalchemy import select

from skypost_web.api import get_or_404, ok
from skypost_web.extensions import db
from skypost_web.models import Locker
from skypost_web.schemas import LockerOut

PATH = "/lockers"
bp = APIBlueprint("lockers", __name__, tag="Lockers")


def serialize_locker(locker: Locker) -> dict:
    return {"id": locker.id, "name": locker.name, "position": [locker.x, locker.y, locker.z],
            "marker_id": locker.marker_id, "active": locker.active,
            "cells": [{"number": c.number, "size": c.size} for c in locker.cells],
            "cells_by_size": dict(Counter(c.size for c in locker.cells))}


@bp.get("")
@bp.output(LockerOut(many=True))
def list_lockers():
    """Every locker."""
    return ok([serialize_locker(lk) for lk in db.session.scalars(select(Locker).order_by(Locker.id))])


@bp.get("/<string:locker_id>")
@bp.output(LockerOut)
def get_locker(locker_id: str):
    """One locker."""
    return ok(serialize_locker(get_or_404(Locker, locker_id[:64], "locker_not_found", "locker")))
