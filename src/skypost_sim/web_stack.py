"""The web app beside a simulated site, as its own processes (scripts/demo.py, tests/e2e/admin_stack.py): its
environment, `init-db` + `seed`, the command lines of the HTTP server and the worker, and a small JSON client of the
public REST API. It never imports skypost_web: the app runs in the processes these command lines start."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

WEB_CLI = (sys.executable, "-m", "flask", "--app", "skypost_web:create_app")
API = "/api/v1"


class WebStackError(RuntimeError):
    """The web app could not be prepared, or answered something unexpected."""


def web_env(db_path: Path, jwt_secret: str, bridge_url: str, bridge_secret: str,
            **overrides: str) -> dict[str, str]:
    """SKYPOST_* variables for a web app on SQLite at `db_path` that reaches ROS through the bridge at `bridge_url`
    with the shared `bridge_secret`; `overrides` are more SKYPOST_<NAME> values (e.g. RATE_LIMIT_DEFAULT)."""
    env = {"SKYPOST_DATABASE_URL": f"sqlite:///{db_path}", "SKYPOST_JWT_SECRET_KEY": jwt_secret,
           "SKYPOST_BRIDGE_SECRET": bridge_secret, "SKYPOST_BRIDGE_URL": bridge_url, "SKYPOST_ROS_LINK": "roslibpy",
           "SKYPOST_DISPATCH_TRANSPORT": "bridge", "PYTHONUNBUFFERED": "1"}
    env.update({f"SKYPOST_{name.upper()}": str(value) for name, value in overrides.items()})
    return env


def prepare_db(env: Mapping[str, str], password: str, timeout: float = 120.0) -> str:
    """`init-db` then `seed --password` (goods, lockers from the world file, demo accounts); their output."""
    output = []
    for args in (["init-db"], ["seed", "--password", password]):
        try:
            done = subprocess.run([*WEB_CLI, *args], env=dict(env), capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise WebStackError(f"skypost-web {args[0]} took longer than {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise WebStackError(f"skypost-web {args[0]} failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
        output.append(done.stdout)
    return "".join(output)


def server_cmd(port: int, host: str = "127.0.0.1") -> list[str]:
    """The development HTTP server (threaded, no reloader: one process to stop)."""
    return [*WEB_CLI, "run", "--host", host, "--port", str(port), "--no-reload", "--no-debugger", "--with-threads"]


def worker_cmd() -> list[str]:
    """The outbox dispatcher, status subscriber and pickup-validation service."""
    return [*WEB_CLI, "worker"]


class RestClient:
    """JSON over HTTP to the web app; `token` (set by `login`) is sent as the bearer token."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.token: str | None = None

    def raw(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, bytes, str]:
        """Status, body bytes and content type; connection failures raise OSError (urllib.error.URLError)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        bearer = token or self.token
        if bearer:
            request.add_header("Authorization", f"Bearer {bearer}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers.get_content_type()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), exc.headers.get_content_type()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> tuple[int, dict]:
        status, data, _type = self.raw(method, path, body, token)
        try:
            return status, json.loads(data or b"{}")
        except ValueError as exc:
            raise WebStackError(f"{method} {path}: HTTP {status}, not JSON: {data[:200]!r}") from exc

    def data(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        """The envelope's `data` of a call that must answer `expect`; WebStackError with the API's error else."""
        status, answer = self.call(method, API + path, body)
        if status != expect:
            error = answer.get("error") or {}
            raise WebStackError(f"{method} {API}{path}: HTTP {status} {error.get('code', '')}: "
                                f"{error.get('message', answer)}")
        return answer.get("data")

    def healthy(self) -> bool:
        try:
            return self.call("GET", "/health")[0] == 200
        except (OSError, WebStackError):
            return False

    def login(self, username: str, password: str) -> str:
        self.token = None
        self.token = self.data("POST", "/auth/login", {"username": username, "password": password})["access_token"]
        return self.token
