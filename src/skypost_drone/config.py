"""The drone node's parameters, read once at start (every one is a commented arg in launch/drone.launch)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from .mission import FailsafePolicy


@dataclass(frozen=True)
class DroneConfig:
    drone_id: str = "drone_1"
    clover_ns: str = ""                 # where simple_offboard and MAVROS live; "" = the root (a real Clover)
    world: str = ""                     # world file to check goals against; "" = /skypost/world_file, if set
    cruise_altitude: float = 3.0        # m above take-off point
    approach_altitude: float = 1.5      # m above the pad while dropping
    search_altitude: float = 4.0        # m, climb here to look for a marker that is not in view
    speed: float = 3.0                  # m/s cruise
    arrival_tolerance: float = 0.3      # m, get_telemetry(frame_id=navigate_target) distance that counts as there
    arrival_check_period: float = 0.2   # s between those get_telemetry calls while a leg is flown
    stuck_timeout: float = 15.0         # s without getting 0.2 m closer to the setpoint = stuck
    acceptance_radius: float = 0.25     # m, marker centre to camera axis before the drop
    marker_size: float = 0.5            # m, edge of the pad marker's black square (0: estimate from altitude)
    approach_frame: str = "aruco"       # aruco: navigate in Clover's aruco_<id> frame; map: own marker pose
    service_timeout: float = 5.0        # s per Clover service call
    busy_retries: int = 5               # "Busy" answers and lost calls retried this often
    preflight_min_battery: float = 0.4  # 0..1 charge needed to take off (unknown charge never takes off)
    low_battery: float = 0.25           # 0..1, below: the low-battery failsafe
    critical_battery: float = 0.12      # 0..1, below: the critical-battery failsafe
    cell_open_timeout: float = 120.0    # s hovering over the pad for the cell to open (fleet may try 3 cells)
    drop_confirm_timeout: float = 40.0  # s after release for the fleet's confirmation (its own wait: 20 s)
    landing_timeout: float = 60.0       # s for the autopilot to land and disarm before the result is sent
    marker_search_timeout: float = 10.0 # s per search attempt
    marker_lost_timeout: float = 2.0    # s without the marker before the descent is abandoned
    approach_attempts: int = 2          # marker searches (climb, wait) before returning with the parcel
    fleet_link_timeout: float = 0.0     # s without /fleet/summary = link lost (0 = not monitored)
    failsafe_low_battery: str = "return"       # continue | return | land
    failsafe_critical_battery: str = "land"    # continue | return | land
    failsafe_link_lost: str = "return"         # continue | return | land (an open cell's drop is finished)
    navigation_retries: int = 3         # refused or stuck legs retried this often, then abort and return
    leg_timeout_margin: float = 20.0    # s added to 2 x distance/speed: a leg's deadline
    cargo_driver: str = "topic"         # topic (simulation: <clover_ns>/cargo/release) or pigpio (servo)
    cargo_gpio: int = 18                # BCM pin of the cargo servo (pigpio)
    cargo_hold_us: int = 1000           # servo pulse (µs) that holds the parcel
    cargo_release_us: int = 2000        # servo pulse (µs) that releases it
    loop_rate: float = 10.0             # Hz, mission loop (ROS time)
    state_rate: float = 2.0             # Hz, /<drone>/state (always, idle too: the fleet's heartbeat)

    @classmethod
    def from_params(cls, get: Callable[[str, Any], Any]) -> DroneConfig:
        """Build from private params; `get(name, default)` is rospy.get_param('~' + name, default) in the node."""
        values = {f.name: type(f.default)(get(f.name, f.default)) for f in fields(cls)}
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if self.cargo_driver not in ("topic", "pigpio"):
            raise ValueError(f"cargo_driver must be topic or pigpio, got '{self.cargo_driver}'")
        if not 0 < self.critical_battery < self.low_battery < self.preflight_min_battery <= 1:
            raise ValueError("need 0 < critical_battery < low_battery < preflight_min_battery <= 1")
        if self.approach_frame not in ("aruco", "map"):
            raise ValueError(f"approach_frame must be aruco or map, got '{self.approach_frame}'")
        positive = ("speed", "loop_rate", "state_rate", "cruise_altitude", "approach_altitude", "search_altitude",
                    "arrival_tolerance", "arrival_check_period", "stuck_timeout", "acceptance_radius",
                    "service_timeout", "cell_open_timeout", "drop_confirm_timeout", "landing_timeout",
                    "marker_search_timeout", "marker_lost_timeout")
        bad = [name for name in positive if not getattr(self, name) > 0]
        if bad:
            raise ValueError(f"must be positive: {', '.join(bad)}")
        if self.marker_size < 0 or self.busy_retries < 0 or self.approach_attempts < 1:
            raise ValueError("need marker_size >= 0, busy_retries >= 0, approach_attempts >= 1")
        self.failsafe_policy()   # raises on a bad failsafe name

    def failsafe_policy(self) -> FailsafePolicy:
        return FailsafePolicy.from_mapping({
            "low_battery": self.failsafe_low_battery,
            "critical_battery": self.failsafe_critical_battery,
            "link_lost": self.failsafe_link_lost,
            "navigation_retries": self.navigation_retries,
        })
