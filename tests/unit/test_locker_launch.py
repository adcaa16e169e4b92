"""Launch files of the locker: every ~param is set from a commented arg; default locker ids exist in the world."""
import dataclasses
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from skypost_common.world import load_world
from skypost_locker.config import LockerConfig
from skypost_locker.sim_node import SimConfig

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
LAUNCH = ROOT / "launch"


def node_params(launch: str, node_type: str) -> set[str]:
    tree = ET.parse(LAUNCH / launch)
    (node,) = [n for n in tree.iter("node") if n.get("type") == node_type]
    return {p.get("name") for p in node.iter("param")}


def test_every_locker_node_param_is_in_the_launch_file():
    from_world = {"marker_id", "position"}
    fields = {f.name for f in dataclasses.fields(LockerConfig)} - from_world
    params = node_params("locker.launch", "locker_node")
    assert fields | {"world"} == params


def test_every_sim_param_is_in_the_launch_file():
    assert {f.name for f in dataclasses.fields(SimConfig)} == node_params("locker.launch", "locker_sim_node")


def test_every_arg_has_a_comment():
    for name in ("locker.launch", "lockers.launch"):
        lines = (LAUNCH / name).read_text().splitlines()
        for i, line in enumerate(lines):
            match = re.search(r'<arg name="(\w+)"', line)
            if match and "default=" in line:
                before = "\n".join(lines[max(0, i - 3):i])
                assert "<!--" in before and match.group(1) in before, f"{name}: arg {match.group(1)} lacks a comment"


def test_default_locker_ids_exist_in_the_world_file():
    world = load_world(ROOT / "config" / "world.yaml")
    tree = ET.parse(LAUNCH / "lockers.launch")
    default_count = int(next(a.get("default") for a in tree.iter("arg") if a.get("name") == "lockers"))
    ids = [f"locker_{k}" for k in range(1, default_count + 1)]
    assert set(ids) <= set(world.lockers), "lockers.launch names locker k locker_k: the world file must agree"
    skypost = ET.parse(LAUNCH / "skypost.launch")
    assert any(i.get("file", "").endswith("lockers.launch") for i in skypost.iter("include"))
