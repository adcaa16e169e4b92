"""The bridge's configuration: every ~param with its default, read once at start-up (no rospy here).

`read_config(get)` takes a getter such as `lambda name, default: rospy.get_param("~" + name, default)`.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skypost_bridge.acl import AccessControl, ConfigError

Getter = Callable[[str, Any], Any]
SECRET_ENV = "SKYPOST_BRIDGE_SECRET"
MB = 1024 * 1024


@dataclass(frozen=True)
class BridgeConfig:
    port: int = 9090  # 0: a free port, published on ~actual_port
    address: str = "127.0.0.1"  # loopback unless configured
    auth_required: bool = True
    auth_secret: str = field(default="", repr=False)
    auth_timeout: float = 15.0  # s an unauthenticated socket may stay open
    anonymous_role: str = "anonymous"  # role of every client when auth_required is false
    access: AccessControl = field(default_factory=lambda: AccessControl({}))
    max_message_size: int = 10 * MB  # incoming: larger is refused (socket kept); outgoing: larger is fragmented
    fragment_size: int = 1 * MB  # fragment length when an outgoing message exceeds max_message_size
    send_buffer: int = 10 * MB  # per client: bytes queued behind a slow socket before the oldest are dropped
    service_timeout: float = 5.0  # s for every service call (either direction) unless the client asks less
    ping_interval: float = 10.0  # s of silence before the server pings a client
    ping_timeout: float = 10.0  # s to answer a ping before the socket is closed
    workers: int = 8  # threads for master calls and ROS service calls
    max_clients: int = 200

    @property
    def locked(self) -> bool:
        """Auth is required but no secret is configured: every client is refused."""
        return self.auth_required and not self.auth_secret


def _secret(get: Getter) -> str:
    secret = str(get("auth_secret", "") or "")
    path = str(get("auth_secret_file", "") or "")
    if not secret and path:
        try:
            secret = Path(path).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"auth_secret_file {path!r}: {exc}") from exc
    return secret or os.environ.get(SECRET_ENV, "")


def _positive(name: str, value: Any, kind: type = float) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from exc
    if number <= 0:
        raise ConfigError(f"{name}: must be > 0, got {value!r}")
    return number


def read_config(get: Getter) -> BridgeConfig:
    base = BridgeConfig()
    roles = get("roles", {}) or {}
    if not isinstance(roles, Mapping):
        raise ConfigError("roles: expected a mapping (load config/bridge.yaml into the node's namespace)")
    port = int(get("port", base.port))
    if not 0 <= port <= 65535:
        raise ConfigError(f"port: {port} is not a TCP port")
    config = BridgeConfig(
        port=port,
        address=str(get("address", base.address)),
        auth_required=bool(get("auth_required", base.auth_required)),
        auth_secret=_secret(get),
        auth_timeout=_positive("auth_timeout", get("auth_timeout", base.auth_timeout)),
        anonymous_role=str(get("anonymous_role", base.anonymous_role)),
        access=AccessControl.from_mapping(roles),
        max_message_size=_positive("max_message_size", get("max_message_size", base.max_message_size), int),
        fragment_size=_positive("fragment_size", get("fragment_size", base.fragment_size), int),
        send_buffer=_positive("send_buffer", get("send_buffer", base.send_buffer), int),
        service_timeout=_positive("service_timeout", get("service_timeout", base.service_timeout)),
        ping_interval=_positive("ping_interval", get("ping_interval", base.ping_interval)),
        ping_timeout=_positive("ping_timeout", get("ping_timeout", base.ping_timeout)),
        workers=_positive("workers", get("workers", base.workers), int),
        max_clients=_positive("max_clients", get("max_clients", base.max_clients), int),
    )
    if not config.auth_required and config.access.role(config.anonymous_role) is None:
        raise ConfigError(f"auth_required is false but anonymous_role {config.anonymous_role!r} has no allow-list")
    if config.fragment_size >= config.max_message_size:
        raise ConfigError("fragment_size must be smaller than max_message_size")
    return config


def describe(config: BridgeConfig) -> str:
    auth = f"off (role {config.anonymous_role})" if not config.auth_required else (
        "LOCKED: no secret, every client refused" if config.locked else "HS256 JWT")
    return (f"ws://{config.address}:{config.port} auth={auth} roles={sorted(config.access.roles)} "
            f"max_message_size={config.max_message_size} send_buffer={config.send_buffer} "
            f"service_timeout={config.service_timeout}s ping={config.ping_interval}/{config.ping_timeout}s")
