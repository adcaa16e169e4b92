"""Scenario planning (orders, faults, customers) and the world generator, without ROS."""
import math
import random

import pytest

from skypost_common.world import load_world
from skypost_sim.scenario_plan import (
    FaultSpec,
    PlanError,
    arrival_times,
    check_fault_targets,
    parse_fault,
    pick_drone,
    pickup_delay,
    plan_orders,
)
from skypost_sim.worldgen import BASE_MARKER, DRONE_RING, generate_world, locker_markers, main, write_world

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("text, expected", [
    ("battery_sag@120=0.6", FaultSpec("battery_sag", 120.0, 0.6)),
    ("battery_sag@120", FaultSpec("battery_sag", 120.0, 0.5)),
    ("drone_lost@300:drone_3", FaultSpec("drone_lost", 300.0, 0.0, "drone_3")),
    ("locker_offline@200.5:locker_2", FaultSpec("locker_offline", 200.5, 0.0, "locker_2")),
    ("wind@60=8", FaultSpec("wind", 60.0, 8.0)),
    (" wind@0=-4 ", FaultSpec("wind", 0.0, -4.0)),
])
def test_fault_specs(text, expected):
    assert parse_fault(text) == expected


@pytest.mark.parametrize("text, why", [
    ("battery_sag", "expected KIND@T"),
    ("meteor@10", "unknown kind"),
    ("battery_sag@10=1.5", "fraction"),
    ("battery_sag@10=0", "fraction"),
    ("wind@10=40", "30 m/s"),
    ("wind@10=5:drone_1", "no target"),
    ("drone_lost@-5", "expected KIND@T"),
])
def test_bad_fault_specs_say_why(text, why):
    with pytest.raises(PlanError, match=why):
        parse_fault(text)


def test_fault_targets_must_exist():
    check_fault_targets([parse_fault("drone_lost@1:drone_2"), parse_fault("locker_offline@1:locker_1")],
                        ["drone_1", "drone_2"], ["locker_1"])
    with pytest.raises(PlanError, match="drone_9"):
        check_fault_targets([parse_fault("drone_lost@1:drone_9")], ["drone_1"], ["locker_1"])
    with pytest.raises(PlanError, match="drone_1"):
        check_fault_targets([parse_fault("locker_offline@1:drone_1")], ["drone_1"], ["locker_1"])


def test_arrivals_are_a_poisson_process_at_the_given_rate():
    times = arrival_times(4000, 3.0, random.Random(5))
    assert times == sorted(times) and times[0] > 0
    gaps = [b - a for a, b in zip([0.0, *times], times, strict=False)]
    assert sum(gaps) / len(gaps) == pytest.approx(20.0, rel=0.05)   # mean gap 60 / rate
    assert sum(1 for g in gaps if g < 20.0) / len(gaps) == pytest.approx(1 - math.exp(-1), abs=0.03)
    assert arrival_times(0, 3.0, random.Random(1)) == []
    with pytest.raises(PlanError):
        arrival_times(3, 0.0, random.Random(1))


def test_orders_are_reproducible_and_valid():
    lockers = ["locker_1", "locker_2", "locker_3"]
    first = plan_orders(50, 2.0, lockers, random.Random(9), prefix="x")
    assert first == plan_orders(50, 2.0, lockers, random.Random(9), prefix="x")
    assert [o.delivery_id for o in first[:2]] == ["x-0001", "x-0002"]
    assert len({o.delivery_id for o in first}) == 50
    assert {o.locker_id for o in first} == set(lockers)
    assert {o.cell_size for o in first} <= {"S", "M", "L"}
    assert all(0.1 <= o.weight_kg <= 0.9 for o in first)
    assert all(o.locker_id == "" for o in plan_orders(5, 2.0, lockers, random.Random(9), choose_locker=False))
    with pytest.raises(PlanError):
        plan_orders(1, 2.0, [], random.Random(1))


def test_customers_and_fault_targets():
    rng = random.Random(2)
    delays = [pickup_delay(rng, 100.0) for _ in range(3000)]
    assert min(delays) >= 0 and sum(delays) / len(delays) == pytest.approx(100.0, rel=0.08)
    assert pickup_delay(rng, 0.0) == 0.0
    assert {pick_drone(rng, ["a", "b", "c"], ["c"]) for _ in range(20)} == {"c"}
    assert {pick_drone(rng, ["a", "b"], []) for _ in range(40)} == {"a", "b"}


def test_generated_world_matches_the_launch_files_and_loads(tmp_path):
    world = generate_world(10, 5, seed=3, min_radius=20.0, max_radius=40.0)
    path = write_world(world, tmp_path / "w" / "world.yaml")
    loaded = load_world(path)
    assert list(loaded.drones) == [f"drone_{i}" for i in range(1, 11)]
    assert list(loaded.lockers) == [f"locker_{i}" for i in range(1, 6)]
    base = loaded.bases["base_1"]
    assert base.marker_id == BASE_MARKER
    for drone in loaded.drones.values():
        assert math.hypot(*drone.start) == pytest.approx(DRONE_RING, abs=0.01)
    starts = {drone.start for drone in loaded.drones.values()}
    assert len(starts) == 10
    for locker in loaded.lockers.values():
        assert 20.0 - 0.01 <= math.hypot(locker.position[0], locker.position[1]) <= 40.0 + 0.01
        assert locker.cells == ("S", "S", "S", "M", "M", "M", "L", "L")
    assert world == generate_world(10, 5, seed=3)
    assert world != generate_world(10, 5, seed=4)


def test_marker_ids_skip_the_base_and_run_out_clearly():
    markers = locker_markers(100)
    assert BASE_MARKER not in markers and len(set(markers)) == 100 and markers[0] == 11
    with pytest.raises(ValueError, match="at most"):
        locker_markers(300)
    with pytest.raises(ValueError):
        generate_world(0, 2)
    with pytest.raises(ValueError):
        generate_world(2, 2, min_radius=50.0, max_radius=10.0)


def test_worldgen_command_line(tmp_path, capsys):
    assert main(["--drones", "4", "--lockers", "3", "-o", str(tmp_path / "x.yaml")]) == 0
    assert len(load_world(tmp_path / "x.yaml").drones) == 4
    assert main(["--drones", "0", "--lockers", "3", "-o", str(tmp_path / "y.yaml")]) == 2
    assert "at least one drone" in capsys.readouterr().err
