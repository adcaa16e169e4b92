from __future__ import annotations

import pytest

from skypost_common.world import WorldError, load_world, parse_world

pytestmark = pytest.mark.unit


def test_shipped_world_loads(tmp_path):
    from harness import ROOT

    world = load_world(ROOT / "config" / "world.yaml")
    assert "locker_1" in world.lockers
    assert world.lockers["locker_1"].cells[0] == "S"
    assert world.drones["drone_1"].base == "base_1"
    assert len(world.marker_positions()) == len(world.bases) + len(world.lockers)


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"lockers": [{"id": "a", "position": [0, 0], "marker_id": 1, "cells": ["S"]}]}, "3 numbers"),
        ({"lockers": [{"id": "a", "position": [0, 0, 0], "marker_id": 1, "cells": ["XL"]}]}, "cells"),
        ({"drones": [{"id": "d", "base": "nowhere"}]}, "unknown base"),
        ({"bases": [{"position": [0, 0, 0]}]}, "missing 'id'"),
        (
            {
                "bases": [{"id": "b", "position": [0, 0, 0], "marker_id": 3}],
                "lockers": [{"id": "a", "position": [0, 0, 0], "marker_id": 3, "cells": ["S"]}],
            },
            "unique",
        ),
        ([], "mapping"),
    ],
)
def test_bad_world_is_refused_with_a_reason(data, fragment):
    with pytest.raises(WorldError, match=fragment):
        parse_world(data)


def test_missing_file_is_a_world_error(tmp_path):
    with pytest.raises(WorldError, match="cannot read"):
        load_world(tmp_path / "absent.yaml")
