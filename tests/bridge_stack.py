"""The bridge node as the wire tests meet it: launch/bridge.launch (or nodes/bridge_node) on port 0 against the
module's roscore, its allow-lists from a YAML file the test writes, tokens signed with its secret, its pid and RSS.

Used by tests/ros/test_bridge_*.py; processes run under the module's `harness.Processes` (always reaped)."""
from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from harness import ROOT, Processes, port_open, wait_for

STARTUP = 90.0  # s: roslaunch and the node on a loaded 2-core machine
EVERYTHING = {action: ["*"] for action in ("publish", "subscribe", "call", "advertise", "params_get", "params_set")}


class BridgeUnderTest:
    """One bridge node named /bridge. `launch=True` goes through roslaunch (the shipped launch file and its args),
    otherwise the node executable is started directly with the same settings as private params."""

    def __init__(self, processes: Processes, master_uri: str, workdir: Path, roles: Mapping[str, Any],
                 args: Mapping[str, Any] | None = None, launch: bool = True) -> None:
        self.processes = processes
        self.master_uri = master_uri
        self.workdir = workdir
        self.roles = dict(roles)
        self.args = dict(args or {})
        self.launch = launch
        self.secret = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._pid = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _master(self):
        import rosgraph

        return rosgraph.Master("/bridge_test_harness", master_uri=self.master_uri)

    def start(self, timeout: float = STARTUP) -> BridgeUnderTest:
        self.workdir.mkdir(parents=True, exist_ok=True)
        roles_file = self.workdir / "bridge_roles.yaml"
        roles_file.write_text(yaml.safe_dump({"roles": self.roles}))
        master = self._master()
        if master.hasParam("/bridge/actual_port"):
            master.deleteParam("/bridge/actual_port")
        settings = {"port": 0, "address": "127.0.0.1", "auth_secret": self.secret, **self.args}
        if self.launch:
            cmd: Sequence[str] = ["roslaunch", "skypost", "bridge.launch", f"config:={roles_file}",
                                  *(f"{key}:={_text(value)}" for key, value in settings.items())]
        else:
            master.setParam("/bridge", {"roles": self.roles})
            cmd = [sys.executable, str(ROOT / "nodes" / "bridge_node"), "__name:=bridge",
                   *(f"_{key}:={_text(value)}" for key, value in settings.items())]
        self.proc = self.processes.start("bridge", cmd)

        def published_port() -> int:
            if self.proc.poll() is not None:
                raise AssertionError(f"the bridge exited ({self.processes.log_dir}/bridge.log):\n{self.log()[-3000:]}")
            return int(master.getParam("/bridge/actual_port")) if master.hasParam("/bridge/actual_port") else 0

        self.port = wait_for(published_port, timeout, "the bridge to publish ~actual_port")
        wait_for(lambda: port_open("127.0.0.1", self.port), timeout, f"the bridge on port {self.port}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.processes.stop(self.proc)
            self.proc = None

    def log(self) -> str:
        return self.processes.log_text("bridge")

    def token(self, role: str, ttl: float = 600.0, secret: str | None = None) -> str:
        from skypost_bridge.auth import issue_token

        return issue_token(secret or self.secret, f"test-{role}", role, time.time() + ttl)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def pid(self) -> int:
        """The node's own pid (under roslaunch it is a child of the launcher), asked from the node itself."""
        if not self._pid:
            uri = self._master().lookupNode("/bridge")
            code, _text_, pid = xmlrpc.client.ServerProxy(uri).getPid("/bridge_test_harness")
            assert code == 1, f"getPid on the bridge failed: {_text_}"
            self._pid = int(pid)
        return self._pid

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.pid()}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/<bridge>/status")


class Stalled:
    """A WebSocket client that sends its requests and then never reads (a raw socket with a tiny receive buffer)."""

    def __init__(self, port: int, timeout: float) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)  # byte by byte: no frame is read past the handshake
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, message: dict[str, Any]) -> None:
        payload = json.dumps(message).encode()
        mask = os.urandom(4)
        size = len(payload)
        head = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def read_until_closed(self) -> bytes:
        """Every byte the server sends until it closes the connection (reading answers nothing, pings included)."""
        received = b""
        while chunk := self.sock.recv(65536):
            received += chunk
        return received

    def close(self) -> None:
        self.sock.close()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
