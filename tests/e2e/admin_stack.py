"""The stack the admin panel's browser tests drive: the simulated site (skypost.launch, sim), the bridge in its own
roslaunch (so a test can restart it on the same port), and the web app (HTTP server + worker) on SQLite.

Processes run under a `harness.Processes` (own process groups, always reaped); logs land in its log dir.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Processes, free_port, port_open, wait_for

PASSWORD = "panel-test-password"  # every seeded demo account (admin, operator, customer)
WEB_CLI = [sys.executable, "-m", "flask", "--app", "skypost_web:create_app"]


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
        return {"SKYPOST_DATABASE_URL": f"sqlite:///{self.workdir / 'web.sqlite'}",
                "SKYPOST_JWT_SECRET_KEY": self.jwt_secret, "SKYPOST_BRIDGE_SECRET": self.bridge_secret,
                "SKYPOST_BRIDGE_URL": self.bridge_url, "SKYPOST_ROS_LINK": "roslibpy",
                "SKYPOST_DISPATCH_TRANSPORT": "bridge", "SKYPOST_BCRYPT_ROUNDS": "4",
                "SKYPOST_DISPATCH_BACKOFF_MAX": "5", "PYTHONUNBUFFERED": "1"}

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
        env = {**self.processes.env, **self.web_env()}
        for args in (["init-db"], ["seed", "--password", PASSWORD]):
            done = subprocess.run([*WEB_CLI, *args], env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, f"skypost-web {args[0]} failed:\n{done.stdout}\n{done.stderr}"
        self.processes.start("web", [*WEB_CLI, "run", "--host", "127.0.0.1", "--port", str(self.web_port),
                                     "--no-reload", "--no-debugger", "--with-threads"], env=self.web_env())
        self.processes.start("web-worker", [*WEB_CLI, "worker"], env=self.web_env())
        wait_for(lambda: self.http("GET", "/health")[0] == 200, timeout, f"the web app on {self.web_url}")

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, dict]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.web_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

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
