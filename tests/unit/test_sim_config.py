"""clover_sim's params: defaults, selection of drones, validation."""
import pytest
from harness import ROOT

from skypost_common.world import WorldError
from skypost_sim.config import SimConfig

pytestmark = pytest.mark.unit
WORLD = str(ROOT / "config" / "world.yaml")


def config(**params) -> SimConfig:
    params.setdefault("world", WORLD)
    return SimConfig.from_params(lambda name, default: params.get(name, default))


def test_defaults_simulate_every_drone_of_the_world():
    c = config()
    assert c.drone_ids == ["drone_1", "drone_2", "drone_3"]
    assert (c.speed, c.rate, c.camera_rate) == (1.0, 50.0, 5.0)
    assert c.model.limits.max_speed == 5.0 and c.model.battery.cells == 4
    assert [p.locker_id for p in c.pads()] == ["locker_1", "locker_2"]
    spec = c.drone_specs()[1]
    assert spec.start == (2.0, -2.0, 0.0) and spec.base == (0.0, 0.0, 0.0)


def test_drones_by_id_or_count():
    assert config(drones="drone_3, drone_1").drone_ids == ["drone_3", "drone_1"]
    assert config(count=2).drone_ids == ["drone_1", "drone_2"]
    with pytest.raises(ValueError, match="drone_7"):
        config(drones="drone_7")


def test_world_from_the_global_param_and_bad_worlds():
    c = SimConfig.from_params(lambda name, default: default, default_world=WORLD)
    assert c.world_file == WORLD
    with pytest.raises(ValueError, match="no world file"):
        SimConfig.from_params(lambda name, default: default)
    with pytest.raises(WorldError, match="cannot read"):
        config(world="/nonexistent.yaml")


def test_model_params_and_initial_faults():
    c = config(max_speed=8.0, battery_hover_drain=0.01, initial_charge=0.3, wind_speed=2.0, wind_direction=90.0,
               faults="drone_2:battery_drain:4", camera_width=160, camera_height=120)
    assert c.model.limits.max_speed == 8.0 and c.model.battery.hover_drain_per_s == 0.01
    assert c.model.initial_charge == 0.3
    assert c.model.wind[0] == pytest.approx(0.0, abs=1e-9) and c.model.wind[1] == pytest.approx(2.0)
    assert c.initial_faults[0].fault == "battery_drain"
    assert c.model.camera.width == 160
    assert "drone_2:battery_drain:4" in c.summary()


@pytest.mark.parametrize("params, match", [
    ({"speed": 0}, "speed"), ({"rate": 1}, "rate"), ({"publish_rate": 100}, "publish_rate"),
    ({"camera_rate": -1}, "camera_rate"), ({"initial_charge": 2}, "initial_charge"),
    ({"max_accel": 0}, "max_accel"), ({"camera_fov": 0}, "fov"), ({"clock_rate": 0}, "clock_rate"),
    ({"faults": "drone_1"}, "drone:fault:value"),
])
def test_bad_params_are_refused_with_their_name(params, match):
    with pytest.raises(ValueError, match=match):
        config(**params)


def test_the_launch_file_sets_every_param_with_the_node_defaults():
    import xml.etree.ElementTree as ET

    read: dict[str, object] = {}

    def record(name, default):
        read[name] = default
        return WORLD if name == "world" else default

    SimConfig.from_params(record)
    launch = ET.parse(ROOT / "launch" / "clover_sim.launch").getroot()
    args = {arg.get("name"): arg.get("default") for arg in launch.iter("arg")}
    params = {param.get("name"): param.get("value") for param in launch.find("node").iter("param")}
    assert set(params) == set(read), "every ~param the node reads is set by clover_sim.launch, and no other"
    assert all(value == f"$(arg {name})" for name, value in params.items())
    for name, default in read.items():
        if name == "world":
            continue
        launch_default = args[name]
        if isinstance(default, float):
            assert float(launch_default) == pytest.approx(default, rel=5e-3), name
        else:
            assert launch_default == str(default), name
