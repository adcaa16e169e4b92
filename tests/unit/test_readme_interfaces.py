"""The README's interface sections against the code: every launch arg, private param and advertised name is documented.

A name counts as documented when a backtick span of its subsystem's README section spells it: a param or arg as
`name` or `~name`, a topic/service/action with the code's f-string placeholders and relative namespaces written as
`<placeholder>`s (f"{ns}/mavros/state" is documented by `/<drone>/mavros/state`).
"""
from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from skypost_bridge.config import read_config as read_bridge_config
from skypost_drone.config import DroneConfig
from skypost_fleet.config import read_config as read_fleet_config
from skypost_locker.config import read_config as read_locker_config
from skypost_locker.sim_node import read_sim_config
from skypost_sim.config import SimConfig

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WORLD = str(ROOT / "config" / "world.yaml")

# launch file -> README section that documents its args
LAUNCH_SECTIONS = {
    "drone.launch": "drone", "drones.launch": "drone",
    "clover_sim.launch": "sim",
    "locker.launch": "locker", "lockers.launch": "locker",
    "fleet.launch": "fleet",
    "bridge.launch": "bridge",
    "skypost.launch": "top",
}

# source file (relative to the repository root) -> README section that documents what it advertises or reads
SOURCE_SECTIONS = {
    "src/skypost_drone/node.py": "drone",
    "src/skypost_sim/node.py": "sim",
    "src/skypost_locker/node.py": "locker",
    "src/skypost_locker/sim_node.py": "locker",
    "src/skypost_locker/rosserial/ros_endpoints.py": "locker",
    "nodes/serial_node": "locker",
    "src/skypost_fleet/node.py": "fleet",
    "src/skypost_fleet/ros_links.py": "fleet",
    "src/skypost_bridge/node.py": "bridge",
}

# Files that create publishers or services but are tools, not nodes of the site: what they advertise is another
# node's documented interface seen from the outside.
NOT_NODES = {
    # the demo plays the customer on /lockers/<locker>/sim/customer_arrive, documented with the locker simulation
    "src/skypost_sim/demo_site.py",
    # the scenario runner also plays the customer, and stands in for the web app's /skypost/validate_pickup
    "src/skypost_sim/scenario_runner.py",
}

# Advertised names that are not documented on their own, each with why.
INTERNAL_NAMES = {
    # the rosserial host publishes whatever topics the device announces (TopicInfo): not a name of its own
    ("src/skypost_locker/rosserial/ros_endpoints.py", "<info.topic_name>"),
    # actionlib's cancel topic of the drone's `deliver` action (documented as the action): the fleet cancels a goal
    # whose client handle it lost after a restart by publishing the stored goal id here
    ("src/skypost_fleet/ros_links.py", "/<drone_id>/deliver/cancel"),
}

ADVERTISERS = {"Publisher", "Service", "ActionServer", "SimpleActionServer"}


def readme_sections() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    sections = {}
    for name in ("drone", "sim", "locker", "fleet", "bridge"):
        match = re.search(rf"<!-- {name}:begin -->(.*?)<!-- {name}:end -->", text, re.S)
        assert match, f"README.md lost its <!-- {name}:begin/end --> markers"
        sections[name] = match.group(1)
    match = re.search(r"^### Top-level launch.*?(?=^## )", text, re.S | re.M)
    assert match, "README.md lost its '### Top-level launch' section"
    sections["top"] = match.group(0)
    return sections


def spans(section: str) -> set[str]:
    return {span.strip() for span in re.findall(r"`([^`\n]+)`", section)}


def param_documented(name: str, section: str) -> bool:
    found = spans(section)
    return name in found or f"~{name}" in found


# ---------------------------------------------------------------- params and launch args


def launch_args() -> Iterator[tuple[str, str]]:
    for launch, section in LAUNCH_SECTIONS.items():
        for arg in ET.parse(ROOT / "launch" / launch).iter("arg"):
            if arg.get("default") is not None:   # `value=` args are computed, not settable
                yield section, f"{launch}: arg {arg.get('name')}"


def recorded(reader: Callable[[Callable[[str, Any], Any]], Any], given: dict[str, Any] | None = None) -> list[str]:
    """The names a config reader asks its getter for (it gets the defaults, plus `given`)."""
    names: list[str] = []

    def get(name: str, default: Any) -> Any:
        names.append(name)
        return (given or {}).get(name, default)

    reader(get)
    return names


def reader_params() -> Iterator[tuple[str, str]]:
    readers = {
        "drone": recorded(DroneConfig.from_params),
        "sim": recorded(lambda get: SimConfig.from_params(get, WORLD)),
        "locker": recorded(read_locker_config, {"locker_id": "locker_1", "world": WORLD})
        + recorded(read_sim_config, {"locker_id": "locker_1", "pty_link": "/tmp/pty"}),
        "fleet": recorded(read_fleet_config),
        "bridge": recorded(read_bridge_config, {"auth_secret": "not-a-secret"}),
    }
    for section, names in readers.items():
        for name in names:
            yield section, name


def literal(node: ast.expr, constants: dict[str, str]) -> str | None:
    """A name argument as text, f-string placeholders as <expr>; None when it is not spelled out in the call."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id, f"<{node.id}>")
    if isinstance(node, ast.Attribute):
        return f"<{ast.unparse(node)}>"
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            else:
                parts.append(f"<{ast.unparse(value.value)}>")   # type: ignore[attr-defined]
        return "".join(parts)
    return None


def calls(path: Path) -> Iterator[tuple[str, str | None]]:
    """(callee's last name, its first argument as text) for every call in a Python file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = {
        target.id: stmt.value.value
        for stmt in tree.body if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)
        and isinstance(stmt.value.value, str)
        for target in stmt.targets if isinstance(target, ast.Name)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            callee = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            yield callee, literal(node.args[0], constants)


def python_sources() -> Iterator[tuple[str, Path]]:
    for path in sorted((ROOT / "src").rglob("*.py")):
        yield str(path.relative_to(ROOT)), path
    for path in sorted((ROOT / "nodes").iterdir()):
        if path.is_file() and path.read_text(encoding="utf-8").startswith("#!/usr/bin/env python"):
            yield str(path.relative_to(ROOT)), path


def get_param_calls() -> Iterator[tuple[str, str]]:
    """Private params read with rospy.get_param("~name") outside the config readers."""
    for rel, path in python_sources():
        for callee, name in calls(path):
            # f"~{name}" is a config reader's getter: what it reads is checked through the readers themselves
            if callee == "get_param" and name and name.startswith("~") and "<" not in name:
                yield rel, name[1:]


def advertised() -> Iterator[tuple[str, str]]:
    for rel, path in python_sources():
        for callee, name in calls(path):
            if callee in ADVERTISERS and name is not None:
                yield rel, name


def test_every_launch_arg_is_in_its_readme_section():
    sections = readme_sections()
    missing = [what for section, what in launch_args()
               if not param_documented(what.split(" arg ")[1], sections[section])]
    assert not missing, f"launch args missing from their README section: {missing}"


def test_every_param_a_config_reader_reads_is_in_its_readme_section():
    sections = readme_sections()
    missing = sorted({f"{section}: ~{name}" for section, name in reader_params()
                      if not param_documented(name, sections[section])})
    assert not missing, f"private params missing from their README section: {missing}"


def test_every_get_param_outside_the_readers_is_documented():
    sections = readme_sections()
    seen = list(get_param_calls())
    assert seen, "the scan found no rospy.get_param('~...') at all: it is broken"
    missing = []
    for rel, name in seen:
        assert rel in SOURCE_SECTIONS, f"{rel} reads ~{name}: map it to a README section in SOURCE_SECTIONS"
        if not param_documented(name, sections[SOURCE_SECTIONS[rel]]):
            missing.append(f"{rel}: ~{name}")
    assert not missing, f"private params missing from their README section: {missing}"


# ---------------------------------------------------------------- topics, services, actions

PLACEHOLDER = r"<[^<>`]+>"


def name_pattern(name: str) -> re.Pattern[str]:
    """How the README may spell a name the code advertises.

    `{expr}` placeholders become `<anything>`; one at the start may carry a namespace before it (`{ns}` is
    `/<drone>`); a relative name may appear bare or under a documented namespace (`state`, `/<drone>/state`,
    `/lockers/<locker>/state`). A private `~name` is spelled as it is.
    """
    if name.startswith("~"):
        return re.compile(re.escape(name))
    pieces = re.split(r"(<[^<>]+>)", name)
    body = "".join(PLACEHOLDER if piece.startswith("<") else re.escape(piece) for piece in pieces if piece)
    if name.startswith("<"):
        body = rf"(?:/[\w.]+)*/?{body}"
    elif not name.startswith("/"):
        body = rf"(?:(?:/[\w.]+)*/{PLACEHOLDER}/)?{body}"
    return re.compile(body)


def name_documented(name: str, section: str) -> bool:
    pattern = name_pattern(name)
    return any(pattern.fullmatch(span) for span in spans(section))


@pytest.mark.parametrize(("name", "documentation", "expected"), [
    ("state", "`/<drone>/state`", True),
    ("state", "`state`", True),
    ("state", "`/<drone>/mavros/state`", False),
    ("<ns>/mavros/state", "`/<drone>/mavros/state`", True),
    ("<ns>/cargo/release", "`<clover_ns>/cargo/release`", True),
    ("/lockers/<pad.locker_id>/sim/parcel_arrived", "`/lockers/<locker>/sim/parcel_arrived`", True),
    ("/fleet/summary", "`/fleet/summary`", True),
    ("/fleet/summary", "`/fleet/summary_x`", False),
    ("~actual_port", "`~actual_port`", True),
])
def test_name_matching(name: str, documentation: str, expected: bool):
    assert name_documented(name, documentation) is expected


def test_every_advertised_name_is_in_its_readme_section():
    sections = readme_sections()
    found = list(advertised())
    assert len(found) > 30, "the scan found too few publishers/services: it is broken"
    missing = []
    for rel, name in found:
        if rel in NOT_NODES or (rel, name) in INTERNAL_NAMES:
            continue
        assert rel in SOURCE_SECTIONS, f"{rel} advertises {name}: map it to a README section in SOURCE_SECTIONS"
        if not name_documented(name, sections[SOURCE_SECTIONS[rel]]):
            missing.append(f"{rel}: {name}")
    assert not missing, f"advertised names missing from their README section: {missing}"


def test_allow_lists_name_only_what_exists():
    found = set(advertised())
    stale = sorted(f"{rel}: {name}" for rel, name in INTERNAL_NAMES if (rel, name) not in found)
    assert not stale, f"INTERNAL_NAMES entries the code no longer advertises: {stale}"
    for rel in [*NOT_NODES, *SOURCE_SECTIONS]:
        assert (ROOT / rel).is_file(), f"{rel} is gone: update the maps of this test"
