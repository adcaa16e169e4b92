"""Test harness: isolated roscore on a free port, node processes that are always reaped, waits with deadlines."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SKYPOST_ARTIFACTS", ROOT / "artifacts"))


def free_port() -> int:
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    predicate: Callable[[], T], timeout: float, message: str = "condition", interval: float = 0.02
) -> T:
    """Poll `predicate` until it returns something truthy; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    last_error: Exception | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # a predicate may fail while the thing it watches is starting
            last_error = exc
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}{detail}")
        pause.wait(interval)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a backing service is unreachable on a developer machine; fail in CI, where it must exist."""
    if port_open(host, port):
        return
    text = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{text} (CI=true: tests that need it must run)")
    pytest.skip(text)


def run_script(cmd: Sequence[str], timeout: float, what: str) -> tuple[int, str]:
    """Run a command in its own process group and return (exit code, output). Past `timeout` it gets SIGTERM (our
    scripts stop what they started on it), then SIGKILL, and the test fails with the output's tail."""
    proc = subprocess.Popen(list(cmd), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            output, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        pytest.fail(f"{what} took longer than {timeout:.0f}s:\n{output[-4000:]}")
    return proc.returncode, output


class Processes:
    """Child processes of one test scope; each in its own process group, all stopped at teardown."""

    def __init__(self, env: Mapping[str, str], log_dir: Path) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self._procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None,
              cwd: Path | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            list(cmd), env={**self.env, **(env or {})}, cwd=cwd or ROOT, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        proc._skypost_log = log  # type: ignore[attr-defined]
        self._procs.append((name, proc))
        return proc

    def log_text(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self, proc: subprocess.Popen, timeout: float = 10.0) -> None:
        """SIGINT (lets rospy nodes shut down cleanly), then SIGTERM, then SIGKILL, to the whole group."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            if proc.poll() is not None:
                break
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                continue
        try:  # children that outlived their leader
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        log = getattr(proc, "_skypost_log", None)
        if log:
            log.close()

    def stop_all(self) -> None:
        for _name, proc in reversed(self._procs):
            self.stop(proc)
        self._procs.clear()


class Roscore:
    """A roscore on a free port with its own ROS_HOME and log dir."""

    def __init__(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.home = Path(tempfile.mkdtemp(prefix=f"skypost-ros-{name}-"))
        self.env = {
            **os.environ,
            "ROS_MASTER_URI": self.uri,
            "ROS_HOME": str(self.home),
            "ROS_LOG_DIR": str(self.home / "log"),
            "ROS_IP": "127.0.0.1",
            "ROS_PYTHON_VERSION": "3",
        }
        self.env.pop("ROS_HOSTNAME", None)
        self.processes = Processes(self.env, ARTIFACTS / "logs" / name)
        self.params = dict(params or {})

    def start(self, timeout: float = 30.0) -> Roscore:
        self.processes.start("roscore", ["roscore", "-p", str(self.port)])
        wait_for(self.master_ready, timeout, f"roscore on port {self.port}")
        import rosgraph  # ROS is only needed by the ros tier

        master = rosgraph.Master("/skypost_test_harness", master_uri=self.uri)
        for key, value in self.params.items():
            master.setParam(key, value)
        return self

    def master_ready(self) -> bool:
        import rosgraph

        try:
            rosgraph.Master("/skypost_test_harness", master_uri=self.uri).getPid()
        except Exception:
            return False
        return True

    def export(self) -> None:
        """Point this process's rospy at this master (before rospy.init_node)."""
        for key in ("ROS_MASTER_URI", "ROS_HOME", "ROS_LOG_DIR", "ROS_IP"):
            os.environ[key] = self.env[key]

    def stop(self) -> None:
        self.processes.stop_all()
        shutil.rmtree(self.home, ignore_errors=True)
