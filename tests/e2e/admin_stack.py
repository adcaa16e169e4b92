"""The stack the admin panel's browser tests drive: the simulated site (skypost.launch, sim), the bridge in its own
roslaunch (so a test can restart it on the same port), and the web app (HTTP server + worker) on SQLite.

Processes run under a `harness.Processes` (own process groups, always reaped); logs land in its log dir.
"""
from __future__ import annotations

import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Processes, free_port, port_open, wait_for

from skypost_sim.web_stack import RestClient, prepare_db, server_cmd, web_env, worker_cmd

PASSWORD = "panel-test-password"  # every seeded demo account (admin, operator, customer)


@dataclass
class AdminStack:
    processes: Processes
    workdir: Path
    speed: float = 5.0
    bridge_port: int = field(default_factory=free_port)
    web_port: int = field(default_factory=free_port)
    bridge_secret: str = field(default_factory=lambda: secrets.token_hex(16))
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    bridge_proc: subprocess.Popen | None = None
    bridge_starts: int = 0

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def bridge_url(self) -> str:
        return f"ws://127.0.0.1:{self.bridge_port}"

    def web_env(self) -> dict[str, str]:
        return web_env(self.workdir / "web.sqlite", self.jwt_secret, self.bridge_url, self.bridge_secret,
                       bcrypt_rounds="4", dispatch_backoff_max="5")

    # the site ------------------------------------------------------------------------------------------------------
    def start_site(self, drones: int = 3, lockers: int = 2) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.processes.start("site", ["roslaunch", "skypost", "skypost.launch", "sim:=true", "bridge:=false",
                                      f"drones:={drones}", f"lockers:={lockers}", f"speed:={self.speed}",
                                      f"fleet_db:={self.workdir / 'fleet.sqlite'}", "fleet_metrics_port:=0"])

    def start_bridge(self, timeout: float = 90.0) -> None:
        self.bridge_starts += 1
        self.bridge_proc = self.processes.start(
            f"bridge-{self.bridge_starts}",
            ["roslaunch", "skypost", "bridge.launch", f"port:={self.bridge_port}", "address:=127.0.0.1",
             f"auth_secret:={self.bridge_secret}"])
        wait_for(lambda: port_open("127.0.0.1", self.bridge_port), timeout,
                 f"the bridge on port {self.bridge_port} ({self.processes.log_dir}/bridge-{self.bridge_starts}.log)")

    def stop_bridge(self, timeout: float = 30.0) -> None:
        assert self.bridge_proc is not None
        self.processes.stop(self.bridge_proc)
        self.bridge_proc = None
        wait_for(lambda: not port_open("127.0.0.1", self.bridge_port), timeout, "the bridge port to close")

    # the web app ---------------------------------------------------------------------------------------------------
    def start_web(self, timeout: float = 90.0) -> None:
        prepare_db({**self.processes.env, **self.web_env()}, PASSWORD)
        self.processes.start("web", server_cmd(self.web_port), env=self.web_env())
        self.processes.start("web-worker", worker_cmd(), env=self.web_env())
        wait_for(lambda: self.http("GET", "/health")[0] == 200, timeout, f"the web app on {self.web_url}")

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, dict]:
        return RestClient(self.web_url).call(method, path, body, token)

    def login(self, username: str) -> str:
        status, body = self.http("POST", "/api/v1/auth/login", {"username": username, "password": PASSWORD})
        assert status == 200, body
        return body["data"]["access_token"]

    def order(self, token: str, locker_id: str = "locker_1") -> dict:
        """One small parcel (an S good) for `locker_id`, as a customer orders it through the REST API."""
        status, goods = self.http("GET", "/api/v1/goods", token=token)
        assert status == 200, goods
        good = next(g for g in goods["data"] if g["size"] == "S" and g["stock"] > 0 and g["weight_kg"] <= 0.5)
        status, body = self.http("POST", "/api/v1/orders", {"items": [{"good_id": good["id"], "quantity": 1}],
                                                             "locker_id": locker_id}, token=token)
        assert status == 201, body
        return body["data"]
