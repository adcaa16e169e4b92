"""clover_sim's configuration: every ~param once, with its default, validated. Pure: the node passes a getter."""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from skypost_common.world import World, load_world

from .battery import BatteryConfig
from .camera import CameraModel
from .clover import RequestTiming
from .faults import FaultRequest, parse_faults
from .flight import FlightLimits
from .simulation import DroneSpec, ModelConfig, Pad

ParamGetter = Callable[[str, Any], Any]


@dataclass(frozen=True)
class SimConfig:
    world_file: str
    world: World
    drone_ids: list[str]
    speed: float = 1.0            # sim seconds per wall second
    rate: float = 50.0            # physics steps per sim second
    publish_rate: float = 10.0    # mavros/local_position/pose per sim second
    status_rate: float = 1.0      # mavros/state, battery, extended_state per sim second (+ state changes)
    camera_rate: float = 5.0      # camera frames per sim second (0: camera off, aruco_<id> frames never usable)
    clock_rate: float = 100.0     # at most this many /clock messages per wall second
    model: ModelConfig = field(default_factory=ModelConfig)
    timing: RequestTiming = field(default_factory=RequestTiming)
    initial_faults: list[FaultRequest] = field(default_factory=list)
    seed: int = 0

    def validate(self) -> None:
        if not self.drone_ids:
            raise ValueError("no drones to simulate (the world file has none, or ~drones/~count select none)")
        if not (math.isfinite(self.speed) and 0 < self.speed <= 1000):
            raise ValueError(f"~speed must be in (0, 1000], got {self.speed}")
        if not 5 <= self.rate <= 1000:
            raise ValueError(f"~rate must be in 5..1000 Hz, got {self.rate}")
        for name in ("publish_rate", "status_rate"):
            if not 0 < getattr(self, name) <= self.rate:
                raise ValueError(f"~{name} must be in (0, rate], got {getattr(self, name)}")
        if not 1 <= self.clock_rate <= 10000:
            raise ValueError(f"~clock_rate must be in 1..10000 per wall second, got {self.clock_rate}")
        if not 0 <= self.camera_rate <= self.rate:
            raise ValueError(f"~camera_rate must be in 0..rate, got {self.camera_rate}")
        self.model.validate()
        self.timing.validate()

    def drone_specs(self) -> list[DroneSpec]:
        specs = []
        for drone_id in self.drone_ids:
            drone = self.world.drones[drone_id]
            base = self.world.bases[drone.base].position
            specs.append(DroneSpec(drone_id, (drone.start[0], drone.start[1], 0.0), base))
        return specs

    def pads(self) -> list[Pad]:
        return [Pad(locker.id, locker.position) for locker in self.world.lockers.values()]

    @classmethod
    def from_params(cls, get: ParamGetter, default_world: str = "") -> SimConfig:
        """Reads every private param through `get(name, default)`; raises ValueError (or WorldError) on bad ones."""
        world_file = str(get("world", "") or default_world)
        if not world_file:
            raise ValueError("no world file: set ~world or /skypost/world_file")
        world = load_world(world_file)
        ids = [d.strip() for d in str(get("drones", "")).split(",") if d.strip()]
        unknown = [d for d in ids if d not in world.drones]
        if unknown:
            raise ValueError(f"~drones names drones that are not in {world_file}: {unknown}")
        count = int(get("count", 0))
        if not ids:
            ids = list(world.drones)[:count] if count > 0 else list(world.drones)
        wind_speed, wind_direction = float(get("wind_speed", 0.0)), math.radians(float(get("wind_direction", 0.0)))
        model = ModelConfig(
            limits=FlightLimits(
                max_speed=float(get("max_speed", 5.0)),
                max_accel=float(get("max_accel", 3.0)),
                max_climb=float(get("max_climb", 1.5)),
                land_speed=float(get("land_speed", 0.7)),
                max_yaw_rate=float(get("max_yaw_rate", 1.0)),
            ),
            battery=BatteryConfig(
                cells=int(get("battery_cells", 4)),
                hover_drain_per_s=float(get("battery_hover_drain", 1.0 / 900.0)),
                forward_drain_per_m=float(get("battery_forward_drain", 1.0 / 9000.0)),
                charge_per_s=float(get("battery_charge_rate", 1.0 / 120.0)),
            ),
            camera=CameraModel(
                width=int(get("camera_width", 320)),
                height=int(get("camera_height", 240)),
                fov_deg=float(get("camera_fov", 90.0)),
                marker_size=float(get("marker_size", 0.5)),
            ),
            initial_charge=float(get("initial_charge", 1.0)),
            battery_failsafe=float(get("battery_failsafe", 0.03)),
            wind=(wind_speed * math.cos(wind_direction), wind_speed * math.sin(wind_direction), 0.0),
            gust=float(get("wind_gust", 0.0)),
        )
        config = cls(
            world_file=world_file,
            world=world,
            drone_ids=ids,
            speed=float(get("speed", 1.0)),
            rate=float(get("rate", 50.0)),
            publish_rate=float(get("publish_rate", 10.0)),
            status_rate=float(get("status_rate", 1.0)),
            camera_rate=float(get("camera_rate", 5.0)),
            clock_rate=float(get("clock_rate", 100.0)),
            model=model,
            timing=RequestTiming(mode_switch_time=float(get("mode_switch_time", 0.2)),
                                 arm_time=float(get("arm_time", 0.5))),
            initial_faults=parse_faults(str(get("faults", ""))),
            seed=int(get("seed", 0)),
        )
        config.validate()
        return config

    def summary(self) -> str:
        m = self.model
        return (f"world={self.world_file} drones={','.join(self.drone_ids)} speed={self.speed:g}x "
                f"rate={self.rate:g}Hz publish={self.publish_rate:g}Hz status={self.status_rate:g}Hz "
                f"camera={self.camera_rate:g}Hz {m.camera.width}x{m.camera.height} clock<={self.clock_rate:g}/s "
                f"limits={m.limits} battery={m.battery} initial_charge={m.initial_charge:g} wind={m.wind} "
                f"gust={m.gust:g} faults={[f'{f.drone_id}:{f.fault}:{f.value:g}' for f in self.initial_faults]}")
