"""Battery model: drain in hover and forward flight, charge at the base, MAVROS-style readings."""
import math

import numpy as np
import pytest

from skypost_sim.battery import BatteryBank, BatteryConfig, cell_voltage

pytestmark = pytest.mark.unit
CONFIG = BatteryConfig(hover_drain_per_s=0.001, forward_drain_per_m=0.0001, charge_per_s=0.01)


def test_hover_and_forward_flight_drain():
    bank = BatteryBank(3, CONFIG)
    flying = np.array([True, True, False])
    for _ in range(100):   # 10 s; drone 1 flies 2 m/s, drone 2 stays parked away from its base
        bank.step(0.1, flying, np.array([0.0, 0.2, 0.0]), charging=np.zeros(3, dtype=bool))
    assert bank.charge[0] == pytest.approx(1.0 - 10 * 0.001)
    assert bank.charge[1] == pytest.approx(1.0 - 10 * 0.001 - 20 * 0.0001)
    assert bank.charge[2] == 1.0


def test_charges_only_while_parked_at_the_base_and_never_above_full():
    bank = BatteryBank(2, CONFIG, initial_charge=0.5)
    for _ in range(30):
        bank.step(1.0, np.array([False, True]), np.zeros(2), charging=np.array([True, True]))
    assert bank.charge[0] == pytest.approx(0.8)
    assert bank.charge[1] < 0.5, "no charging in the air"
    for _ in range(100):
        bank.step(1.0, np.zeros(2, dtype=bool), np.zeros(2), charging=np.array([True, False]))
    assert bank.charge[0] == 1.0


def test_a_worn_pack_drains_faster_and_never_below_empty():
    bank = BatteryBank(2, CONFIG, initial_charge=0.05)
    bank.drain_scale[1] = 4.0
    bank.step(10.0, np.array([True, True]), np.zeros(2), np.zeros(2, dtype=bool))
    assert bank.charge[0] == pytest.approx(0.04) and bank.charge[1] == pytest.approx(0.01)
    bank.step(100.0, np.array([True, True]), np.zeros(2), np.zeros(2, dtype=bool))
    assert list(bank.charge) == [0.0, 0.0]


def test_readings_as_mavros_sends_them():
    bank = BatteryBank(1, CONFIG, initial_charge=0.5)
    percentage, voltage, cells = bank.reading(0, loaded=False)
    assert percentage == 0.5 and len(cells) == 4 and voltage == pytest.approx(4 * cells[0])
    assert bank.reading(0, loaded=True)[2][0] < cells[0], "the voltage sags under load"
    bank.unknown[0] = True
    percentage, voltage, cells = bank.reading(0, loaded=False)
    assert percentage == -0.01 and math.isnan(voltage) and cells == []


def test_cell_voltage_follows_charge_within_lipo_limits():
    charges = np.linspace(0, 1, 21)
    volts = cell_voltage(charges)
    assert np.all(np.diff(volts) > 0)
    assert volts[0] >= 3.0 and volts[-1] == pytest.approx(4.2), "Clover's preflight window is 3.0..4.3 V"
    assert cell_voltage(0.15) < 3.7 < cell_voltage(0.3), "Clover calls < 3.7 V critically low"


def test_bad_configuration_is_refused():
    with pytest.raises(ValueError, match="cells"):
        BatteryBank(1, BatteryConfig(cells=0))
    with pytest.raises(ValueError, match="hover_drain"):
        BatteryBank(1, BatteryConfig(hover_drain_per_s=-1))
    with pytest.raises(ValueError, match="initial charge"):
        BatteryBank(1, CONFIG, initial_charge=1.5)
