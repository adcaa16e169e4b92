"""Configuration: defaults in one class, overridden by SKYPOST_* environment variables, then by a mapping (tests)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "SKYPOST_"


class ConfigError(ValueError):
    """A configuration value cannot be used; the message names the key."""


def _default_world_file() -> str:
    """config/world.yaml of the checkout (or of the Docker image's /opt/skypost), else relative to the cwd."""
    for base in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = base / "config" / "world.yaml"
        if candidate.is_file():
            return str(candidate)
    return "config/world.yaml"


class Defaults:
    """Every setting the app reads, with its default. Environment: SKYPOST_<NAME> (typed like the default)."""

    # Storage
    DATABASE_URL = ""  # empty: SQLite file skypost.sqlite in the instance folder; DATABASE_URL is honoured too
    DATABASE_SCHEMA = ""  # PostgreSQL schema (search_path); used by the tests to isolate runs
    # Auth
    JWT_SECRET_KEY = "dev-only-jwt-secret-change-me-in-production"
    JWT_ACCESS_MINUTES = 15
    BCRYPT_ROUNDS = 12
    JWT_REFRESH_DAYS = 14
    # Bridge (rosbridge protocol v2) and the ROS link
    ROS_LINK = "roslibpy"  # roslibpy | fake | none
    BRIDGE_URL = "ws://127.0.0.1:9090"
    BRIDGE_SECRET = "dev-only-bridge-secret-change-me-in-production"
    BRIDGE_TIMEOUT = 5.0  # s, every call through the bridge
    BRIDGE_CONNECT_TIMEOUT = 3.0  # s, first connection wait
    BRIDGE_MAX_RECONNECT_DELAY = 5.0  # s
    BRIDGE_TOKEN_TTL = 300  # s, tokens issued to admin/operator browsers
    BRIDGE_SERVICE_TOKEN_TTL = 3600  # s, the web app's own token (re-issued at every connect)
    # Dispatch
    DISPATCH_TRANSPORT = ""  # bridge | amqp; empty: amqp when AMQP_URL is set, else bridge
    AMQP_URL = ""
    AMQP_PREFIX = ""
    AMQP_TIMEOUT = 5.0
    DISPATCH_BATCH = 20
    DISPATCH_INTERVAL = 1.0  # s between dispatcher passes
    DISPATCH_BACKOFF_BASE = 2.0  # s, doubled at each failed attempt
    DISPATCH_BACKOFF_MAX = 300.0
    DISPATCH_LEASE = 60.0  # s a SQLite claim lasts (PostgreSQL uses row locks)
    SUMMARY_CACHE_PERIOD = 2.0  # s between writes of the fleet summary to the DB
    # Orders and pickup
    WORLD_FILE = ""
    PICKUP_CODE_TTL_HOURS = 72.0
    PICKUP_MAX_FAILURES = 5  # failed attempts per locker within the window before refusing all
    PICKUP_FAILURE_WINDOW = 300.0  # s
    MAX_ITEMS_PER_ORDER = 20
    MAX_PAYLOAD_KG = 1.0
    # HTTP
    CORS_ORIGINS = ""  # comma list; empty: no cross-origin access
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"  # redis://127.0.0.1:6379 for several processes
    RATE_LIMIT_DEFAULT = "100 per minute"
    RATE_LIMIT_LOGIN = "10 per minute"
    RATE_LIMIT_PICKUP = "20 per minute"
    PROXY_HOPS = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are trusted (docker/: nginx, 1)
    # Notifications
    NOTIFIER = "log"  # log | webhook
    WEBHOOK_URL = ""
    WEBHOOK_TIMEOUT = 5.0


def _coerce(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{ENV_PREFIX}{name}: expected a boolean, got {raw!r}")
    if isinstance(default, (int, float)):
        try:
            return type(default)(raw)
        except ValueError as exc:
            raise ConfigError(f"{ENV_PREFIX}{name}: expected a {type(default).__name__}, got {raw!r}") from exc
    return raw


def load_settings(environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None) -> dict:
    """Defaults, then SKYPOST_* (and DATABASE_URL) from the environment, then `overrides`."""
    environ = os.environ if environ is None else environ
    settings = {k: v for k, v in vars(Defaults).items() if k.isupper()}
    if environ.get("DATABASE_URL"):
        settings["DATABASE_URL"] = environ["DATABASE_URL"]
    for name, default in list(settings.items()):
        raw = environ.get(ENV_PREFIX + name)
        if raw is not None:
            settings[name] = _coerce(name, raw, default)
    settings.update(overrides or {})
    if not settings["WORLD_FILE"]:
        settings["WORLD_FILE"] = _default_world_file()
    link = settings["ROS_LINK"]
    if isinstance(link, str) and link not in ("roslibpy", "fake", "none"):
        raise ConfigError(f"ROS_LINK: expected roslibpy, fake or none, got {settings['ROS_LINK']!r}")
    if settings["NOTIFIER"] not in ("log", "webhook"):
        raise ConfigError(f"NOTIFIER: expected log or webhook, got {settings['NOTIFIER']!r}")
    return settings


def dispatch_transport(settings: Mapping[str, Any]) -> str:
    transport = settings.get("DISPATCH_TRANSPORT") or ("amqp" if settings.get("AMQP_URL") else "bridge")
    if transport not in ("bridge", "amqp"):
        raise ConfigError(f"DISPATCH_TRANSPORT: expected bridge or amqp, got {transport!r}")
    return transport
