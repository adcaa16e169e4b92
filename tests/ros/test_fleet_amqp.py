"""The RabbitMQ intake against the real broker on 127.0.0.1:5672 (unique names per run via ~amqp_prefix)."""
import json
import subprocess
import uuid

import pytest
from fakes.site import WORLD, FleetSite
from harness import require_service, wait_for

pytestmark = [pytest.mark.ros, pytest.mark.services]
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
PREFIX = f"skypost_test_{uuid.uuid4().hex[:10]}."
CONNECTION_NAME = f"skypost-fleet {PREFIX}"


@pytest.fixture(scope="module")
def broker():
    require_service("RabbitMQ", "127.0.0.1", 5672)
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(URL))
    yield connection.channel()
    try:
        connection.close()
    except pika.exceptions.AMQPError:
        pass  # already gone with a broker restart
    # a fresh connection: the broker may have been restarted under the first one
    cleanup = pika.BlockingConnection(pika.URLParameters(URL))
    channel = cleanup.channel()
    for queue in ("deliveries", "deliveries.priority", "deliveries.dead", "delivery_events"):
        channel.queue_delete(PREFIX + queue)
    channel.exchange_delete(PREFIX + "delivery_exchange")
    cleanup.close()


@pytest.fixture(scope="module")
def site(broker, rospy_node, ros_processes, tmp_path_factory):
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    # no drones run in this module: accepted deliveries simply stay queued
    site.start_fleet(drones="drone_1", amqp_url=URL, amqp_prefix=PREFIX)
    # the fleet declares its queues, then binds them: a message published before the binding would be dropped
    wait_for(lambda: {PREFIX + "deliveries", PREFIX + "deliveries.priority"} <= _bound_queues(), 60,
             "the fleet's queues bound to its exchange")
    return site


def _bound_queues() -> set[str]:
    out = subprocess.run(["rabbitmqctl", "-q", "list_bindings", "source_name", "destination_name"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return {line.split("\t")[1] for line in out.splitlines()
            if line.count("\t") == 1 and line.split("\t")[0] == PREFIX + "delivery_exchange"}


def publish(channel, body, priority=False):
    import pika

    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    key = "deliveries.priority" if priority else "deliveries"
    channel.basic_publish(PREFIX + "delivery_exchange", key, data,
                          pika.BasicProperties(delivery_mode=2, content_type="application/json"))


def message(delivery_id, **extra):
    return {"delivery_id": delivery_id, "order_ref": f"o-{delivery_id}", "locker_id": "locker_1",
            "cell_size": "S", "priority": 0, "weight_kg": 0.4, **extra}


def drain(channel, queue):
    out = []
    while True:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is None:
            return out
        out.append((properties, body))


def fleet_connections():
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    tag = '{"connection_name","' + CONNECTION_NAME + '"}'
    return [line.split("\t")[0] for line in out.splitlines() if tag in line]


def test_message_is_accepted_and_an_event_goes_back(site, broker):
    publish(broker, message("amqp-1"))
    publish(broker, message("amqp-p1"), priority=True)
    wait_for(lambda: site.get("amqp-1").success and site.get("amqp-p1").success, 30, "both accepted")
    assert site.get("amqp-1").status.state_name == "QUEUED"
    urgent = site.get("amqp-p1").status
    assert urgent.priority == 1 and urgent.locker_id == "locker_1"
    events = []
    wait_for(lambda: events.extend(drain(broker, PREFIX + "delivery_events")) or
             {"amqp-1", "amqp-p1"} <= {json.loads(b)["delivery_id"] for _p, b in events}, 30, "status events")
    first = next(json.loads(b) for _p, b in events if json.loads(b)["delivery_id"] == "amqp-1")
    assert first["state_name"] == "QUEUED" and events[0][0].delivery_mode == 2


def test_duplicate_message_is_acknowledged_once(site, broker):
    publish(broker, message("amqp-dup"))
    publish(broker, message("amqp-dup", cell_size="L"))
    wait_for(lambda: site.get("amqp-dup").success, 30, "amqp-dup accepted")
    wait_for(lambda: broker.queue_declare(PREFIX + "deliveries", passive=True).method.message_count == 0, 30,
             "the queue to drain")
    assert site.get("amqp-dup").status.cell_size == "S"


def test_poison_messages_land_in_the_dead_letter_queue_with_the_reason(site, broker):
    publish(broker, b"{not json")
    publish(broker, message("amqp-bad", cell_size="XXL"))
    publish(broker, message("amqp-bad2", colour="red"))
    dead = []
    wait_for(lambda: dead.extend(drain(broker, PREFIX + "deliveries.dead")) or len(dead) >= 3, 30,
             "three dead letters")
    reasons = [p.headers["x-skypost-reason"] for p, _b in dead]
    assert any("not JSON" in r for r in reasons)
    assert any("cell_size" in r for r in reasons)
    assert any("unknown fields" in r for r in reasons)
    assert not site.get("amqp-bad").success and not site.get("amqp-bad2").success


def test_connection_killed_by_the_broker_loses_nothing(site, broker):
    wait_for(fleet_connections, 30, "the fleet's connection")
    ids = [f"amqp-bulk-{i}" for i in range(40)]
    for i, delivery_id in enumerate(ids):
        publish(broker, message(delivery_id), priority=i % 4 == 0)
        if i in (10, 25):  # close the fleet's connection from the server side, mid-stream
            for pid in wait_for(fleet_connections, 60, "the fleet's connection"):
                subprocess.run(["rabbitmqctl", "-q", "close_connection", pid, "test: broker-side close"],
                               capture_output=True, timeout=60, check=False)
    wait_for(lambda: all(site.get(d).success for d in ids), 90, "every message accepted after reconnecting")
    wait_for(fleet_connections, 60, "the fleet to reconnect")
    for queue in ("deliveries", "deliveries.priority"):
        assert broker.queue_declare(PREFIX + queue, passive=True).method.message_count == 0
    listed = [d.delivery_id for d in site.list([], 0).deliveries if d.delivery_id.startswith("amqp-bulk-")]
    assert sorted(listed) == sorted(ids)          # each exactly once
    log = site.processes.log_text("fleet")
    assert log.count("AMQP connection lost") >= 2 and "CONNECTION_FORCED" in log


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=120, check=True)


def test_zz_broker_restart_loses_nothing(site, broker):
    """A real broker restart (stop_app/start_app): persistent messages in the durable queues survive it, the fleet
    reconnects by itself, and every delivery is accepted exactly once. Runs last: it kills every AMQP connection."""
    import pika

    wait_for(fleet_connections, 30, "the fleet's connection")
    before = [f"amqp-restart-a{i}" for i in range(150)]
    for delivery_id in before:
        publish(broker, message(delivery_id))
    try:
        rabbitmqctl("stop_app")   # some of `before` are still queued or unacknowledged by the fleet now
    finally:
        rabbitmqctl("start_app")
    rabbitmqctl("await_startup")
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    try:
        channel = connection.channel()
        after = [f"amqp-restart-b{i}" for i in range(20)]
        for delivery_id in after:
            publish(channel, message(delivery_id))
        ids = before + after
        wait_for(fleet_connections, 90, "the fleet to reconnect after the restart")
        wait_for(lambda: all(site.get(d).success for d in ids), 120, "every message accepted after the restart")
        for queue in ("deliveries", "deliveries.priority"):
            wait_for(lambda q=queue: channel.queue_declare(PREFIX + q, passive=True).method.message_count == 0, 30,
                     f"{queue} drained")
        listed = [d.delivery_id for d in site.list([], 0).deliveries if d.delivery_id.startswith("amqp-restart-")]
        assert sorted(listed) == sorted(ids)      # each exactly once
    finally:
        connection.close()
