"""The whole simulated site for `make demo`: one roslaunch of skypost.launch (roscore, clover_sim and the drone nodes,
the locker nodes on their firmware in simavr, the fleet manager, the bridge with authentication on) and the web app
(HTTP server + worker, SQLite) sharing a secret generated for this run with the bridge; plus the simulated customer
at a locker. Every process runs in its own process group and `stop()` ends them all. rospy is imported only once
the site's master is up."""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from skypost_sim.site_runner import Site, SiteError, free_port
from skypost_sim.web_stack import RestClient, prepare_db, server_cmd, web_env, worker_cmd

DEMO_PASSWORD = "skypost-demo"  # every seeded account: admin, operator, customer, locker_1-device
DEMO_ACCOUNTS = ("admin", "operator", "customer")
VALIDATE_SERVICE = "/skypost/validate_pickup"


@dataclass(frozen=True)
class DemoConfig:
    artifacts: Path
    speed: float = 5.0
    drones: int = 3
    lockers: int = 2
    web_port: int = 8080
    bridge_port: int = 9090
    metrics_port: int = 9101
    password: str = DEMO_PASSWORD


class DemoSite:
    """Starts everything in __init__ (stop() in every case); `notes` says which wanted port was busy."""

    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.artifacts = Path(config.artifacts).resolve()
        self.artifacts.mkdir(parents=True, exist_ok=True)
        self.notes: list[str] = []
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
                         env={"SKYPOST_BRIDGE_SECRET": bridge_secret})
        self.metrics_port = metrics_port
        self.web_procs = []
        self.api = RestClient(self.web_url)

    def _port(self, what: str, wanted: int) -> int:
        port = free_port(wanted)
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
        self.web_procs.append(self.site.start_extra("web", server_cmd(self.web_port), env=self.web_env))
        self.web_procs.append(self.site.start_extra("web-worker", worker_cmd(), env=self.web_env))
        self.wait(self.api.healthy, timeout, f"the web app on {self.web_url}")
        return seeded

    def wait_ros(self, timeout: float) -> dict[str, int]:
        """The master, then a fleet summary with every drone and locker up; makes this process a ROS node."""
        self.wait(self.site.master_up, timeout, "the ROS master")
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
        return {"drones": summary.drones_total, "idle": summary.drones_idle, "lockers": summary.lockers_online}

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
