"""Smaller fleet parts: constants agree with the messages, config from params, the store, the executor."""

import math
import threading

import pytest

from skypost_fleet.config import read_config
from skypost_fleet.executor import KeyedSerialExecutor
from skypost_fleet.model import Delivery, DeliveryRequest, DropSignal, Mission, Outcome, Phase, State
from skypost_fleet.store import Store

pytestmark = pytest.mark.unit


def test_constants_mirror_the_generated_messages():
    msg = pytest.importorskip("skypost.msg")
    srv = pytest.importorskip("skypost.srv")
    for state in State:
        assert getattr(msg.DeliveryStatus, state.name) == state
    for mission in Mission:
        assert getattr(msg.DroneState, mission.name) == mission
    for outcome in Outcome:
        assert getattr(msg.DeliverResult, outcome.name) == outcome
    for signal in DropSignal:
        assert getattr(srv.DropControlRequest, signal.name) == signal


def test_config_defaults_and_overrides():
    params = {
        "drones": "drone_1, drone_2",
        "auto_load": False,
        "auto_retries": 5,
        "cruise_speed": 3.0,
        "retryable_reasons": "cell_failed,no_drop",
        "amqp_url": "amqp://x",
    }
    config = read_config(lambda name, default: params.get(name, default))
    assert config.drones == ("drone_1", "drone_2") and config.lockers == ()
    assert not config.fleet.lifecycle.auto_load and config.fleet.lifecycle.auto_retries == 5
    assert config.fleet.lifecycle.retryable == {"cell_failed", "no_drop"}
    assert config.fleet.energy.cruise_speed == 3.0 and config.amqp_url == "amqp://x"
    assert config.db_path.endswith("skypost_fleet.sqlite") and config.metrics_port == 0


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"drone_timeout": 0}, "~drone_timeout"),
        ({"battery_reserve": 1.5}, "~battery_reserve"),
        ({"service_timeout": 60.0}, "shorter than ~action_timeout"),
        ({"auto_retries": -1}, "~auto_retries"),
    ],
)
def test_config_refuses_settings_that_cannot_work(params, fragment):
    with pytest.raises(ValueError, match=fragment):
        read_config(lambda name, default: params.get(name, default))


def test_store_round_trip_history_and_open_deliveries(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    d = Delivery.new(DeliveryRequest("d1", "o", "locker_1", "M", 1, 0.5), 1.0, 100.0)
    store.save(d, [d])
    flying = Delivery(
        **{
            **d.__dict__,
            "state": State.IN_FLIGHT,
            "phase": Phase.FLYING,
            "goal_active": True,
            "eta": 12.5,
            "tried_cells": (3,),
            "updated": 2.0,
            "dispatch_latency": 0.8,
        }
    )
    store.save(flying, [flying])
    done = Delivery(**{**flying.__dict__, "state": State.COMPLETED, "phase": Phase.DONE, "updated": 3.0})
    store.save(done, [done])
    store.close()
    again = Store(tmp_path / "db.sqlite")
    assert again.get("d1") == done and again.get("nope") is None
    assert [h.state for h in again.history("d1")] == [State.QUEUED, State.IN_FLIGHT, State.COMPLETED]
    assert [x.delivery_id for x in again.load_open()] == ["d1"]  # terminal, but its drone goal still runs
    assert again.count_by_state() == {State.COMPLETED: 1}
    assert math.isnan(again.history("d1")[0].eta)
    again.set_setting("paused", "1")
    assert again.setting("paused") == "1" and again.setting("other", "x") == "x"


def test_executor_keeps_order_per_key_and_runs_keys_in_parallel():
    executor = KeyedSerialExecutor(workers=2)
    seen, gate, done = [], threading.Event(), threading.Event()
    executor.submit("slow", lambda: gate.wait(10))
    for i in range(20):
        executor.submit("a", lambda i=i: seen.append(i))
    executor.submit("a", done.set)
    assert done.wait(10), "key 'a' was blocked behind another key"
    assert seen == list(range(20))
    gate.set()
    executor.shutdown()
