"""Fixtures shared by every tier. ROS fixtures import ROS lazily so unit tests run without it."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Processes, Roscore


@pytest.fixture(scope="module")
def roscore(request: pytest.FixtureRequest) -> Iterator[Roscore]:
    """An isolated roscore for this module. A module may set ROSCORE_PARAMS = {"/use_sim_time": True, ...}."""
    name = Path(str(request.module.__file__)).stem
    core = Roscore(name, getattr(request.module, "ROSCORE_PARAMS", None))
    try:
        core.start()
        core.export()
        yield core
    finally:
        core.stop()


@pytest.fixture(scope="module")
def ros_processes(roscore: Roscore) -> Iterator[Processes]:
    """Start node processes against the module's roscore; all are stopped when the module ends."""
    procs = Processes(roscore.env, roscore.processes.log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def rospy_node(roscore: Roscore) -> Iterator[str]:
    """Make this test process a ROS node on the module's roscore (one module per process: see run_tests.py)."""
    import rospy

    name = f"skypost_test_{Path(roscore.home).name.replace('-', '_')}"
    rospy.init_node(name, anonymous=False, disable_signals=True)
    try:
        yield rospy.get_name()
    finally:
        rospy.signal_shutdown("test module finished")
