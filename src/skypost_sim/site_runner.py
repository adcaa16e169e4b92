"""Start and stop the simulated site from a script (scripts/demo.py, scripts/scenario.py): one roslaunch of
skypost.launch on its own ROS master port and ROS_HOME, optional extra roslaunches against the same master, and
waits with deadlines that notice a site that died. No rospy at import time."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROS_ENV = ("ROS_MASTER_URI", "ROS_HOME", "ROS_IP", "ROS_LOG_DIR")


class SiteError(RuntimeError):
    """The site stopped, or did not come up."""


def free_port(preferred: int = 0) -> int:
    """`preferred` when it is free on 127.0.0.1, else any free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            # probe as our servers bind (SO_REUSEADDR): only a listener makes a port busy, not the TIME_WAIT
            # connections a previous run left behind
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return sock.getsockname()[1]
    raise SiteError("no free port")


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGINT (roslaunch shuts its nodes down cleanly), then SIGTERM, then SIGKILL, to the process group."""
    for sig, wait in ((signal.SIGINT, 15), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
            proc.wait(wait)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue
    try:  # nodes that outlived roslaunch
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Site:
    """The roslaunch process group of the simulated site (skypost.launch with `launch_args`), logs in `artifacts`."""

    def __init__(self, artifacts: Path, launch_args: Mapping[str, object], preferred_port: int = 11311,
                 env: Mapping[str, str] | None = None) -> None:
        self.artifacts = Path(artifacts)
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.master_port = free_port(preferred_port)
        self.env = {**os.environ, **(env or {}), "ROS_MASTER_URI": f"http://127.0.0.1:{self.master_port}",
                    "ROS_HOME": str(self.artifacts / "ros"), "ROS_IP": "127.0.0.1",
                    "ROS_LOG_DIR": str(self.artifacts / "ros" / "log")}
        self.env.pop("ROS_HOSTNAME", None)
        self.log_path = self.artifacts / "roslaunch.log"
        self._logs = [open(self.log_path, "wb")]  # noqa: SIM115 - closed in stop()
        args = [f"{key}:={_arg(value)}" for key, value in launch_args.items()]
        self.proc = subprocess.Popen(["roslaunch", "-p", str(self.master_port), "skypost", "skypost.launch", *args],
                                     env=self.env, stdout=self._logs[0], stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.extras: list[subprocess.Popen] = []

    @property
    def master_uri(self) -> str:
        return self.env["ROS_MASTER_URI"]

    def start_extra(self, name: str, cmd: Sequence[str], env: Mapping[str, str] | None = None) -> subprocess.Popen:
        """Another process against this site's master (e.g. a second roslaunch) with `env` added to the site's;
        log in artifacts/<name>.log."""
        log = open(self.artifacts / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        proc = subprocess.Popen(list(cmd), env={**self.env, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.extras.append(proc)
        return proc

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        for proc in [*reversed(self.extras), self.proc]:
            _stop_group(proc)
        for log in self._logs:
            log.close()

    def export_env(self) -> None:
        """Point this process's rospy at the site's master (before rospy.init_node)."""
        os.environ.update({key: self.env[key] for key in ROS_ENV})

    def master_up(self) -> bool:
        import rosgraph

        try:
            rosgraph.Master("/skypost_site_runner", master_uri=self.master_uri).getPid()
        except Exception:  # any failure to reach it means "not up yet"
            return False
        return True


def _arg(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def wait_until(predicate: Callable[[], object], timeout: float, what: str, site: Site,
               interval: float = 0.2) -> None:
    """Polls `predicate` (wall clock); SiteError when the site stopped, TimeoutError after `timeout` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if not site.alive():
            raise SiteError(f"the site stopped while waiting for {what}; see {site.log_path}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        pause.wait(interval)
