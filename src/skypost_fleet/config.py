"""The fleet node's configuration: every ~param with its default, read once at start-up (no rospy here).

`read_config(get)` takes a getter such as `lambda name, default: rospy.get_param("~" + name, default)` so that
the defaults live in one place and tests can build a config from a dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skypost_fleet.assignment import EnergyModel, Policy
from skypost_fleet.core import FleetConfig
from skypost_fleet.lifecycle import LifecycleConfig

Getter = Callable[[str, Any], Any]


def default_db_path() -> str:
    home = os.environ.get("ROS_HOME") or str(Path.home() / ".ros")
    return str(Path(home) / "skypost_fleet.sqlite")


@dataclass(frozen=True)
class NodeConfig:
    world: str = ""  # world file; empty: the /skypost/world_file param
    drones: tuple[str, ...] = ()  # empty: every drone of the world file
    lockers: tuple[str, ...] = ()  # empty: every locker of the world file
    drone_count: int = 0  # > 0: only the first N drones of the world file (when ~drones is empty)
    locker_count: int = 0  # > 0: only the first N lockers of the world file (when ~lockers is empty)
    db_path: str = field(default_factory=default_db_path)
    drone_timeout: float = 30.0  # no /<drone>/state for this long: OFFLINE
    max_telemetry_age: float = 5.0
    tick_period: float = 0.25  # deadlines, heartbeats, lost goals
    round_period: float = 2.0  # an assignment round at least this often while deliveries wait
    service_timeout: float = 5.0  # each locker / drop_control call
    goal_server_timeout: float = 5.0  # waiting for a drone's Deliver action server
    reserve_ttl: float = 0.0  # reservation lifetime asked of the locker (0: the locker's default)
    workers: int = 4  # threads carrying out locker and drone calls
    amqp_url: str = ""  # empty: no RabbitMQ intake
    amqp_prefix: str = ""  # prefix of every exchange / queue name (tests use a unique one)
    amqp_events: bool = True  # publish status events on the delivery_events queue
    metrics_port: int = 0  # Prometheus endpoint; 0: off
    metrics_address: str = "127.0.0.1"
    fleet: FleetConfig = field(default_factory=FleetConfig)


def _csv(value: Any) -> tuple[str, ...]:
    items = [str(v) for v in value] if isinstance(value, list | tuple) else str(value or "").split(",")
    return tuple(item.strip() for item in items if item.strip())


def read_config(get: Getter) -> NodeConfig:
    base = NodeConfig()
    life = LifecycleConfig()
    energy = EnergyModel()
    policy = Policy()
    retryable = _csv(get("retryable_reasons", "")) or tuple(sorted(life.retryable))
    lifecycle = LifecycleConfig(
        auto_load=bool(get("auto_load", life.auto_load)),
        auto_retries=int(get("auto_retries", life.auto_retries)),
        retryable=frozenset(retryable),
        queue_timeout=float(get("queue_timeout", life.queue_timeout)),
        action_timeout=float(get("action_timeout", life.action_timeout)),
        loading_timeout=float(get("loading_timeout", life.loading_timeout)),
        mission_timeout=float(get("mission_timeout", life.mission_timeout)),
        drop_timeout=float(get("drop_timeout", life.drop_timeout)),
        confirm_timeout=float(get("confirm_timeout", life.confirm_timeout)),
        pickup_timeout=float(get("pickup_timeout", life.pickup_timeout)),
        max_cells=int(get("max_cells", life.max_cells)),
        max_signal_tries=int(get("max_signal_tries", life.max_signal_tries)),
    )
    energy = EnergyModel(
        cruise_speed=float(get("cruise_speed", energy.cruise_speed)),
        overhead_s=float(get("flight_overhead", energy.overhead_s)),
        drain_per_s=float(get("battery_drain_per_s", energy.drain_per_s)),
        payload_drain_per_kg=float(get("payload_drain_per_kg", energy.payload_drain_per_kg)),
        reserve=float(get("battery_reserve", energy.reserve)),
        max_payload_kg=float(get("max_payload_kg", energy.max_payload_kg)),
    )
    policy = Policy(
        aging_step=float(get("aging_step", policy.aging_step)),
        priority_boost=float(get("priority_boost", policy.priority_boost)),
    )
    grace = float(get("goal_lost_grace", FleetConfig().goal_lost_grace))
    fleet = FleetConfig(lifecycle, energy, policy, grace)
    config = NodeConfig(
        world=str(get("world", base.world)),
        drones=_csv(get("drones", "")),
        lockers=_csv(get("lockers", "")),
        db_path=str(get("db_path", "") or base.db_path),
        drone_count=int(get("drone_count", base.drone_count)),
        locker_count=int(get("locker_count", base.locker_count)),
        drone_timeout=float(get("drone_timeout", base.drone_timeout)),
        max_telemetry_age=float(get("max_telemetry_age", base.max_telemetry_age)),
        tick_period=float(get("tick_period", base.tick_period)),
        round_period=float(get("round_period", base.round_period)),
        service_timeout=float(get("service_timeout", base.service_timeout)),
        goal_server_timeout=float(get("goal_server_timeout", base.goal_server_timeout)),
        reserve_ttl=float(get("reserve_ttl", base.reserve_ttl)),
        workers=int(get("workers", base.workers)),
        amqp_url=str(get("amqp_url", base.amqp_url)),
        amqp_prefix=str(get("amqp_prefix", base.amqp_prefix)),
        amqp_events=bool(get("amqp_events", base.amqp_events)),
        metrics_port=int(get("metrics_port", base.metrics_port)),
        metrics_address=str(get("metrics_address", base.metrics_address)),
        fleet=fleet,
    )
    validate_config(config)
    return config


def validate_config(config: NodeConfig) -> None:
    """Refuse settings that cannot work, with the param's name in the message."""
    problems = []
    life, energy = config.fleet.lifecycle, config.fleet.energy
    for name, value in (
        ("drone_timeout", config.drone_timeout),
        ("tick_period", config.tick_period),
        ("service_timeout", config.service_timeout),
        ("cruise_speed", energy.cruise_speed),
        ("action_timeout", life.action_timeout),
        ("confirm_timeout", life.confirm_timeout),
        ("aging_step", config.fleet.policy.aging_step),
    ):
        if value <= 0:
            problems.append(f"~{name} must be > 0 (got {value})")
    if life.auto_retries < 0:
        problems.append("~auto_retries must be >= 0")
    if not 0 <= energy.reserve < 1:
        problems.append("~battery_reserve must be in [0, 1)")
    if max(config.service_timeout, config.goal_server_timeout) >= life.action_timeout:
        problems.append("~service_timeout and ~goal_server_timeout must be shorter than ~action_timeout")
    if config.workers < 1:
        problems.append("~workers must be >= 1")
    if problems:
        raise ValueError("; ".join(problems))
