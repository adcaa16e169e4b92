"""The simulated site as a whole: sim clock, charging at the base, autopilot battery failsafe, sightings, drops."""
import math

import numpy as np
import pytest

from skypost_sim.battery import BatteryConfig
from skypost_sim.clover import CloverApi
from skypost_sim.simulation import DroneSpec, ModelConfig, Pad, Simulation

pytestmark = pytest.mark.unit
NAN = math.nan
MARKERS = {11: (24.0, 8.0, 0.0), 100: (0.0, 0.0, 0.0)}
PADS = [Pad("locker_1", MARKERS[11])]


def site(model: ModelConfig | None = None, n: int = 1) -> Simulation:
    specs = [DroneSpec(f"drone_{i + 1}", (2.0 * i, -2.0, 0.0), (0.0, 0.0, 0.0)) for i in range(n)]
    return Simulation(specs, MARKERS, PADS, model, self_stepping=True)


def test_sim_time_advances_by_fixed_steps():
    sim = site()
    sim.advance(1.0, dt=0.02)
    assert sim.now == pytest.approx(1.0)
    sim.step(0.01)
    assert sim.now == pytest.approx(1.01)


def test_battery_drains_in_flight_and_recharges_parked_at_the_base():
    sim = site()
    api = CloverApi(sim, 0)
    api.navigate(0, 0, 2, NAN, 1, "body", auto_arm=True)
    sim.advance(60.0, dt=0.1)
    flown = sim.battery.charge[0]
    assert flown == pytest.approx(1.0 - 60 / 900, abs=0.005)
    api.land()
    sim.advance(5.0)
    landed = sim.battery.charge[0]
    sim.advance(5.0)
    assert sim.battery.charge[0] > landed, "drone_1 stands 2 m from its base: within base_radius"


def test_no_charging_away_from_the_base():
    sim = site(n=1)
    api = CloverApi(sim, 0)
    api.navigate(24, 8, 3, NAN, 5, "map", auto_arm=True)
    sim.advance(15.0, dt=0.05)
    api.land()
    sim.advance(10.0, dt=0.05)
    parked = sim.battery.charge[0]
    sim.advance(10.0, dt=0.1)
    assert sim.battery.charge[0] == parked


def test_the_autopilot_lands_by_itself_on_an_empty_battery():
    sim = site(ModelConfig(initial_charge=0.05, battery=BatteryConfig(hover_drain_per_s=0.01)))
    api = CloverApi(sim, 0)
    api.navigate(0, 0, 3, NAN, 1, "body", auto_arm=True)
    sim.advance(3.0)
    assert sim.mode[0] == "AUTO.LAND"
    sim.advance(10.0)
    assert not sim.dynamics.armed[0] and sim.dynamics.on_ground[0]


def test_sightings_need_the_drone_above_the_marker():
    sim = site(n=2)
    for i in range(2):
        CloverApi(sim, i).navigate(24.0 + 20 * i, 8.0, 3.0, NAN, 5, "map", auto_arm=True)
    sim.advance(15.0)
    seen = sim.update_sightings()
    assert seen[0, sim.marker_column[11]] and not seen[1, sim.marker_column[11]]
    assert sim.marker_fresh(0, 11) and not sim.marker_fresh(1, 11)
    assert not sim.marker_fresh(0, 100), "the base is far behind"


def test_release_over_a_pad_reaches_the_locker():
    sim = site()
    api = CloverApi(sim, 0)
    assert sim.pad_below(0) is None
    api.navigate(24.8, 8.9, 2.0, NAN, 5, "map", auto_arm=True)
    sim.advance(15.0)
    assert sim.pad_below(0) == PADS[0]
    api.navigate(24, 8, 5.0, NAN, 5, "map")
    sim.advance(5.0)
    assert sim.pad_below(0) is None, "too high above the pad"


def test_gusts_push_drones_around_a_steady_hover():
    sim = site(ModelConfig(gust=1.5), n=3)
    for i in range(3):
        CloverApi(sim, i).navigate(0, 0, 3, NAN, 1, "body", auto_arm=True)
    sim.advance(10.0)
    errors = []
    for _ in range(200):
        sim.step(0.05)
        errors.append(np.linalg.norm(sim.dynamics.position[:, :2] - sim.dynamics.target[:, :2], axis=1))
    worst = np.max(errors)
    assert 0.05 < worst < 3.0


def test_snapshot_is_a_copy():
    sim = site()
    snap = sim.snapshot()
    sim.dynamics.position[0, 0] = 99.0
    assert snap.position[0, 0] == 0.0 and snap.mode == ["POSCTL"] and snap.connected[0]


def test_drone_ids_must_be_unique_and_known():
    with pytest.raises(ValueError, match="unique"):
        Simulation([DroneSpec("a", (0, 0, 0), (0, 0, 0))] * 2, MARKERS)
    with pytest.raises(KeyError, match="unknown drone 'zz'"):
        site().drone("zz")
