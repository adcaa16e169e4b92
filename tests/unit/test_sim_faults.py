"""Fault injection (srv/InjectFault.srv) and initial faults from a param."""
import math

import pytest
from harness import ROOT

from skypost_sim.clover import CloverApi
from skypost_sim.faults import FAULTS, FaultError, FaultRequest, apply_fault, parse_faults
from skypost_sim.simulation import DroneSpec, Simulation

pytestmark = pytest.mark.unit
NAN = math.nan


def sim() -> Simulation:
    specs = [DroneSpec(f"drone_{i}", (2.0 * i, 0.0, 0.0), (0.0, 0.0, 0.0)) for i in (1, 2)]
    return Simulation(specs, {11: (10.0, 0.0, 0.0)}, self_stepping=True)


def inject(s: Simulation, drone: str, fault: str, value: float = 0.0) -> str:
    return apply_fault(s, FaultRequest(drone, fault, value))


def test_every_fault_of_the_service_definition_is_served():
    with open(ROOT / "srv" / "InjectFault.srv") as srv:
        documented = {line.split()[1] for line in srv if line.startswith("#   ")}
    assert documented == set(FAULTS)


def test_navigate_refuse_counts_down_on_one_drone_only():
    s = sim()
    inject(s, "drone_1", "navigate_refuse", 1)
    one, two = CloverApi(s, 0), CloverApi(s, 1)
    assert not one.navigate(0, 0, 1, NAN, 1, "body", True).success
    assert two.navigate(0, 0, 1, NAN, 1, "body", True).success
    assert one.navigate(0, 0, 1, NAN, 1, "body", True).success


def test_battery_faults():
    s = sim()
    inject(s, "drone_2", "battery_sag", 0.7)
    assert s.battery.charge[1] == pytest.approx(0.3) and s.battery.charge[0] == 1.0
    inject(s, "drone_2", "battery_drain", 5)
    assert s.battery.drain_scale[1] == 5
    inject(s, "drone_2", "battery_unknown", 1)
    assert s.battery.reading(1, False)[0] == -0.01
    inject(s, "drone_2", "battery_unknown", 0)
    assert s.battery.reading(1, False)[0] == pytest.approx(0.3)


def test_telemetry_stop_lasts_the_given_sim_seconds():
    s = sim()
    inject(s, "drone_1", "telemetry_stop", 2.0)
    assert s.telemetry_stopped(0) and not s.telemetry_stopped(1)
    s.advance(2.1)
    assert not s.telemetry_stopped(0)


def test_hide_marker_and_wind_and_clear():
    s = sim()
    inject(s, "drone_1", "hide_marker", 11)
    assert s.hidden_markers == {11}
    inject(s, "drone_1", "hide_marker", -1)
    assert s.hidden_markers == set()
    inject(s, "drone_1", "wind", 4.0)
    s.step(0.02)
    assert s.dynamics.wind[0][0] == 4.0 and s.dynamics.wind[1][0] == 0.0
    inject(s, "drone_1", "navigate_refuse", 3)
    inject(s, "drone_1", "battery_drain", 3)
    inject(s, "drone_1", "clear")
    assert s.navigate_refusals[0] == 0 and s.fault_wind[0][0] == 0.0 and s.battery.drain_scale[0] == 1.0


@pytest.mark.parametrize("drone, fault, value, match", [
    ("drone_9", "wind", 1.0, "unknown drone 'drone_9'"),
    ("drone_1", "gremlins", 1.0, "unknown fault 'gremlins'"),
    ("drone_1", "battery_sag", 1.5, "0..1"),
    ("drone_1", "battery_drain", 0.0, "> 0"),
    ("drone_1", "navigate_refuse", -1, ">= 0"),
    ("drone_1", "telemetry_stop", NAN, "finite"),
    ("drone_1", "hide_marker", 42, "no marker 42"),
])
def test_bad_requests_are_refused_and_change_nothing(drone, fault, value, match):
    s = sim()
    with pytest.raises(FaultError, match=match):
        inject(s, drone, fault, value)
    assert s.battery.charge[0] == 1.0 and s.navigate_refusals[0] == 0 and not s.hidden_markers


def test_initial_faults_from_a_param_string():
    assert parse_faults("") == []
    assert parse_faults(" drone_1:battery_drain:3, drone_2:clear ; drone_2:hide_marker:11") == [
        FaultRequest("drone_1", "battery_drain", 3.0), FaultRequest("drone_2", "clear", 0.0),
        FaultRequest("drone_2", "hide_marker", 11.0)]
    with pytest.raises(FaultError, match="drone:fault:value"):
        parse_faults("drone_1")
    with pytest.raises(FaultError, match="not a number"):
        parse_faults("drone_1:wind:strong")
