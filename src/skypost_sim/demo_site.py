"""The whole simulated site for `make demo`: one roslaunch of skypost.launch (roscore, clover_sim and the drone nodes,
the locker nodes on their firmware in simavr, the fleet manager, the bridge with authentication on) and the web app
(HTTP server + worker, SQLite) sharing a secret generated for this run with the bridge; plus the simulated customer
at a locker. Every process runs in its own process group and `stop()` ends them all. rospy is imported only once
the site's master is up."""
from __future__ import annotations

import fcntl
import random
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from skypost_sim.recording import connected, mission_topics, recorder_command
from skypost_sim.site_runner import Site, SiteError, describe, family, free_port, listeners
from skypost_sim.web_stack import RestClient, prepare_db, server_cmd, web_env, worker_cmd

DEMO_PASSWORD = "skypost-demo"  # every seeded account: admin, operator, customer, locker_1-device
DEMO_ACCOUNTS = ("admin", "operator", "customer")
VALIDATE_SERVICE = "/skypost/validate_pickup"
PORT_LOCK = Path(tempfile.gettempdir()) / "skypost-demo-ports.lock"  # shared by every checkout on the machine


@dataclass(frozen=True)
class DemoConfig:
    artifacts: Path
    speed: float = 5.0
    drones: int = 3
    lockers: int = 2
    web_port: int = 8080
    bridge_port: int = 9090
    ros_port: int = 11311
    metrics_port: int = 9101
    password: str = DEMO_PASSWORD


class DemoSite:
    """The roslaunch starts in __init__, the web app in start_web(); call stop() in every case. `notes` says which
    wanted port was busy and what was used instead."""

    def __init__(self, config: DemoConfig, say: Callable[[str], None] = print, lock_timeout: float = 300.0) -> None:
        self.config = config
        self.artifacts = Path(config.artifacts).resolve()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self._dir_lock = _lock(self.artifacts / "demo.lock")
        if self._dir_lock is None:
            raise SiteError(f"another demo is running with {self.artifacts}; stop it or pass another --artifacts")
        # Ports are picked free, then bound by processes seconds later: two demos starting at once would pick the
        # same ones (and a roslaunch joins a master it finds on its port). Demos on this machine pick and bind
        # their ports one after the other; the lock is held until the master, web app and bridge listen.
        self._port_lock = _lock(PORT_LOCK)
        if self._port_lock is None:
            say("another demo is starting on this machine: waiting until its ports are taken")
            self._port_lock = _lock(PORT_LOCK, lock_timeout)
        if self._port_lock is None:
            self._dir_lock.close()
            raise SiteError(f"another demo held {PORT_LOCK} for {lock_timeout:.0f}s")
        self.notes: list[str] = []
        self._picked: set[int] = set()
        self.web_port = self._port("web app", config.web_port)
        self.bridge_port = self._port("bridge", config.bridge_port)
        metrics_port = self._port("fleet metrics", config.metrics_port)
        # a fresh site every run: old orders would point at deliveries of a fleet that no longer knows them
        for name in ("web.sqlite", "fleet.sqlite"):
            (self.artifacts / name).unlink(missing_ok=True)
        bridge_secret = secrets.token_hex(32)
        self.web_env = web_env(self.artifacts / "web.sqlite", secrets.token_hex(32), self.bridge_url, bridge_secret,
                               bcrypt_rounds="4", rate_limit_default="600 per minute", dispatch_backoff_max="5")
        self._publishers: dict[str, object] = {}
        self._display: dict[str, str] = {}
        self._stopped = False
        # the bridge reads its secret from SKYPOST_BRIDGE_SECRET: it stays out of the command line (ps)
        self.site = Site(self.artifacts, {"sim": True, "drones": config.drones, "lockers": config.lockers,
                                          "speed": config.speed, "bridge": True, "bridge_port": self.bridge_port,
                                          "fleet_db": self.artifacts / "fleet.sqlite",
                                          "fleet_metrics_port": metrics_port},
                         preferred_port=self._port("ROS master", config.ros_port),
                         env={"SKYPOST_BRIDGE_SECRET": bridge_secret})
        self.metrics_port = metrics_port
        self.web_procs: list[subprocess.Popen] = []
        self.drone_ids: list[str] = []
        self.locker_ids: list[str] = []
        self.api = RestClient(self.web_url)

    def _port(self, what: str, wanted: int) -> int:
        port = pick_port(wanted, self._picked)
        self._picked.add(port)
        if wanted and port != wanted:
            self.notes.append(f"port {wanted} is busy, so the {what} uses port {port}")
        return port

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def bridge_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge_port}"

    # starting --------------------------------------------------------------------------------------------------------

    def start_web(self, timeout: float) -> str:
        """Schema, seed data and demo accounts, then the HTTP server and the worker; the seed's output."""
        seeded = prepare_db({**self.site.env, **self.web_env}, self.config.password)
        self.wait(self.site.master_up, timeout, "the ROS master")
        if not self.site.owns_master():
            raise SiteError(f"another ROS master answers on port {self.site.master_port} (the demo's roslaunch would "
                            "join it); stop it or choose another port (--ros-port)")
        server = self.site.start_extra("web", server_cmd(self.web_port), env=self.web_env)
        self.web_procs.append(server)
        self.web_procs.append(self.site.start_extra("web-worker", worker_cmd(), env=self.web_env))
        self.wait(lambda: self._serving(self.web_port, server, "the web app"), timeout, f"the web app on port "
                  f"{self.web_port}")
        self.wait(self.api.healthy, timeout, f"the web app on {self.web_url}")
        return seeded

    def _serving(self, port: int, owner: subprocess.Popen, what: str) -> bool:
        """Our `owner` (or a process under it) listens on `port`; SiteError when another program does: the port
        was free when it was picked, then something else took it (another demo starting at the same time?)."""
        pids = listeners(port)
        if not pids:
            return False
        if pids & {member.pid for member in family(owner)}:
            return True
        raise SiteError(f"port {port} for {what} was taken by another program ({describe(min(pids))}); "
                        "stop it or choose other ports (--web-port, --bridge-port)")

    def wait_ros(self, timeout: float) -> dict[str, int]:
        """The bridge, then a fleet summary with every drone and locker up (after start_web); makes this process
        a ROS node."""
        self.wait(lambda: self._serving(self.bridge_port, self.site.proc, "the bridge"), timeout,
                  f"the bridge on port {self.bridge_port}")
        self._release_ports()
        self.site.export_env()
        import rospy
        from skypost.msg import FleetSummary

        rospy.init_node("skypost_demo", anonymous=True, disable_signals=True)
        latest: list[FleetSummary] = []
        sub = rospy.Subscriber("/fleet/summary", FleetSummary, lambda m: latest.__setitem__(slice(None), [m]),
                               queue_size=1)
        wanted = self.config.drones, self.config.lockers

        def ready() -> bool:
            return bool(latest) and (latest[0].drones_idle, latest[0].lockers_online) >= wanted
        self.wait(ready, timeout, f"{wanted[0]} idle drones and {wanted[1]} online lockers in /fleet/summary")
        sub.unregister()
        summary = latest[0]
        self.drone_ids = [d.drone_id for d in summary.drones]
        self.locker_ids = [locker.locker_id for locker in summary.lockers]
        return {"drones": summary.drones_total, "idle": summary.drones_idle, "lockers": summary.lockers_online}

    def record(self, path: Path, timeout: float = 30.0) -> None:
        """A rosbag of the mission topics (after wait_ros), stopped with the site; the bag is closed cleanly."""
        topics = mission_topics(self.drone_ids, self.locker_ids)
        recorder = self.site.start_extra("rosbag", recorder_command(path, topics, "demo_recorder"))
        self.wait(lambda: recorder.poll() is None and connected("/fleet_manager", "/fleet/delivery_status",
                                                               "/demo_recorder", self.site.master_uri),
                  timeout, "the rosbag recorder to connect to the fleet")

    def wait_bridge_service(self, timeout: float) -> None:
        """The web worker serves the pickup check to the lockers through the bridge."""
        import rosgraph

        master = rosgraph.Master("/skypost_demo_probe", master_uri=self.site.master_uri)

        def served() -> bool:
            try:
                master.lookupService(VALIDATE_SERVICE)
            except Exception:  # not registered yet (or the master is busy): look again
                return False
            return True
        self.wait(served, timeout, f"the web worker to serve {VALIDATE_SERVICE} through the bridge")

    def metrics_url(self) -> str:
        """The fleet's Prometheus endpoint, '' when its port was taken by another program before the fleet bound it
        (the fleet then runs without it)."""
        try:
            ours = self._serving(self.metrics_port, self.site.proc, "the fleet metrics")
        except SiteError:
            return ""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if ours else ""

    # the customer at the locker --------------------------------------------------------------------------------------

    def watch_display(self, locker_id: str, show: Callable[[str], None]) -> None:
        """Calls `show` with each new text on the locker's screen."""
        import rospy
        from std_msgs.msg import String

        def on_text(msg: String) -> None:
            if self._display.get(locker_id) != msg.data:
                self._display[locker_id] = msg.data
                show(msg.data)
        rospy.Subscriber(f"/lockers/{locker_id}/display", String, on_text, queue_size=10)

    def show_code(self, locker_id: str, code: str, timeout: float = 15.0) -> None:
        """The simulated customer holds `code`'s QR up to the locker's camera."""
        import rospy
        from std_msgs.msg import String

        pub = self._publishers.get(locker_id)
        if pub is None:
            pub = rospy.Publisher(f"/lockers/{locker_id}/sim/customer_arrive", String, queue_size=1)
            self._publishers[locker_id] = pub
        self.wait(lambda: pub.get_num_connections() > 0, timeout, f"the {locker_id} simulator to listen for customers")
        pub.publish(String(data=code))

    # watching and stopping -------------------------------------------------------------------------------------------

    def dead(self) -> str:
        """The first process of the site that has exited, '' while all run."""
        if not self.site.alive():
            log = self.site.log_path.read_text(errors="replace") if self.site.log_path.exists() else ""
            if "new node registered with same name" in log:  # rosmaster's words when a second site joins
                return (f"another roslaunch joined the demo's ROS master on port {self.site.master_port} and "
                        f"replaced its nodes (see {self.site.log_path})")
            return f"the roslaunch of the site exited (see {self.site.log_path})"
        for name, proc in zip(("web", "web-worker"), self.web_procs, strict=False):
            if proc.poll() is not None:
                return f"the {name} process exited with {proc.returncode} (see {self.artifacts / (name + '.log')})"
        return ""

    def wait(self, predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.2) -> None:
        """Polls `predicate`; SiteError when a process of the site died, TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while not predicate():
            reason = self.dead()
            if reason:
                raise SiteError(f"{reason} while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            pause.wait(interval)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        try:
            import rospy

            if rospy.core.is_initialized():
                rospy.signal_shutdown("demo stopping")
        except ImportError:
            pass
        self.site.stop()
        self._release_ports()
        self._dir_lock.close()

    def _release_ports(self) -> None:
        if self._port_lock is not None:
            self._port_lock.close()
            self._port_lock = None


def pick_port(wanted: int, taken: Iterable[int] = (), tries: int = 200) -> int:
    """`wanted` if free, else a free port above it (below the kernel's ephemeral range: from a random start when
    `wanted` is 0 or in that range). Never a fallback in the ephemeral range: the ROS nodes bind port 0 while the
    site starts and could take a port that was picked free but is not bound yet."""
    taken = set(taken)
    if wanted and wanted not in taken and free_port(wanted) == wanted:
        return wanted
    low, high = _ephemeral_range()
    start = wanted + 1 if 0 < wanted < low - tries else random.randrange(10000, max(low - tries, 10001))
    for port in range(start, start + tries):
        if port not in taken and not low <= port <= high and free_port(port) == port:
            return port
    raise SiteError(f"no free port in {start}..{start + tries - 1}")


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def _lock(path: Path, timeout: float = 0.0) -> TextIO | None:
    """An exclusive flock on `path` (held while the file stays open), None when another process held it for
    `timeout` s."""
    handle = open(path, "a+")  # noqa: SIM115 - the caller closes it to unlock
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() >= deadline:
                handle.close()
                return None
            pause.wait(0.5)
