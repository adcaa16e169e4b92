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

import psutil

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


def family(proc: subprocess.Popen) -> list[psutil.Process]:
    """`proc` and every process under it (roslaunch puts each node in a process group of its own)."""
    try:
        leader = psutil.Process(proc.pid)
        return [leader, *leader.children(recursive=True)]
    except psutil.Error:  # already gone
        return []


def listeners(port: int) -> set[int]:
    """Pids of the processes listening on TCP `port` (any address)."""
    return {conn.pid for conn in psutil.net_connections(kind="tcp")
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid}


def describe(pid: int) -> str:
    try:
        return f"pid {pid}: {' '.join(psutil.Process(pid).cmdline())[:160]}"
    except psutil.Error:
        return f"pid {pid}"


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
        # every process the site started, taken before stopping: a node in its own group that outlives a
        # roslaunch that had to be killed, or a simulator under such a node, is killed by name of its pid too
        started = [member for proc in [*self.extras, self.proc] for member in family(proc)]
        # all at once: each may take its SIGINT grace period, and nothing here depends on the order
        stoppers = [threading.Thread(target=_stop_group, args=(proc,), daemon=True)
                    for proc in [*reversed(self.extras), self.proc]]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(60)  # _stop_group gives up after 25 s of signals
        for member in started:
            try:
                member.kill()  # psutil checks the pid still belongs to the process seen above
            except psutil.Error:
                pass
        psutil.wait_procs(started, timeout=5)
        for log in self._logs:
            log.close()

    def owns_master(self) -> bool:
        """The master on our port is the roslaunch's own (roslaunch -p joins a master it finds on the port)."""
        import rosgraph

        pid = rosgraph.Master("/skypost_site_runner", master_uri=self.master_uri).getPid()
        return pid in {member.pid for member in family(self.proc)}

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
