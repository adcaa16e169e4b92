"""RabbitMQ dispatch (publisher confirms) and the `delivery_events` consumer, against the real broker."""
import json
import secrets
import threading

import pika
import pytest
from conftest import Accounts, assert_envelope, make_app, require_service, wait_for
from skypost_web.extensions import db
from skypost_web.models import Good, Order, OutboxMessage
from skypost_web.services.amqp import AmqpNames, EventConsumer
from skypost_web.services.seed import seed_lockers
from skypost_web.worker import Worker
from sqlalchemy import select

pytestmark = [pytest.mark.unit, pytest.mark.services]
URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


@pytest.fixture
def prefix():
    require_service("RabbitMQ", "127.0.0.1", 5672)
    prefix = f"skypost_web_test_{secrets.token_hex(4)}."
    yield prefix
    names = AmqpNames(prefix)
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    for queue in (names.queue, names.priority_queue, names.dead_letter_queue, names.events_queue):
        channel.queue_delete(queue)
    channel.exchange_delete(names.exchange)
    connection.close()


@pytest.fixture
def amqp_app(tmp_path, request, prefix):
    app = make_app("sqlite", tmp_path, request, DISPATCH_TRANSPORT="amqp", AMQP_URL=URL, AMQP_PREFIX=prefix)
    with app.app_context():
        seed_lockers(app.config["WORLD_FILE"])
        db.session.add(Good(sku="tea", name="Tea", price_cents=1, weight_kg=0.2, size="S", stock=10))
        db.session.commit()
    return app


def get_message(queue: str):
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    try:
        method, properties, body = connection.channel().basic_get(queue, auto_ack=True)
        return (properties, json.loads(body)) if method else None
    finally:
        connection.close()


def test_orders_go_to_the_broker_with_confirms(amqp_app, prefix):
    accounts, client = Accounts(amqp_app), amqp_app.test_client()
    normal = assert_envelope(client.post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}]},
                                         headers=accounts.headers("alice")), 201)["data"]
    urgent = assert_envelope(client.post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}],
                                                                 "priority": "high"},
                                         headers=accounts.headers("bob")), 201)["data"]
    worker = Worker(amqp_app, link=amqp_app.config["ROS_LINK"])
    worker.tick()
    with amqp_app.app_context():
        assert set(db.session.scalars(select(OutboxMessage.status)).all()) == {"sent"}
    names = AmqpNames(prefix)
    properties, body = get_message(names.queue)
    assert properties.delivery_mode == 2 and body == {
        "delivery_id": normal["delivery"]["id"], "order_ref": normal["ref"], "locker_id": normal["locker_id"],
        "cell_size": "S", "priority": 0, "weight_kg": 0.2}
    _properties, body = get_message(names.priority_queue)
    assert body["delivery_id"] == urgent["delivery"]["id"] and body["priority"] == 1
    for transport in worker.transports.values():
        getattr(transport, "close", lambda: None)()


def test_broker_down_keeps_the_message_pending(tmp_path, request):
    app = make_app("sqlite", tmp_path, request, DISPATCH_TRANSPORT="amqp", AMQP_URL="amqp://guest:guest@127.0.0.1:1/",
                   AMQP_TIMEOUT=1.0)
    with app.app_context():
        seed_lockers(app.config["WORLD_FILE"])
        db.session.add(Good(sku="tea", name="Tea", price_cents=1, weight_kg=0.2, size="S", stock=10))
        db.session.commit()
    accounts, client = Accounts(app), app.test_client()
    assert_envelope(client.post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}]},
                                headers=accounts.headers("alice")), 201)
    Worker(app, link=app.config["ROS_LINK"]).tick()
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage))
        assert row.status == "pending" and row.attempts == 1 and "unreachable" in row.last_error


def test_delivery_events_update_orders(amqp_app, prefix):
    accounts, client = Accounts(amqp_app), amqp_app.test_client()
    created = assert_envelope(client.post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}]},
                                          headers=accounts.headers("alice")), 201)["data"]
    worker = Worker(amqp_app, link=amqp_app.config["ROS_LINK"])
    worker.tick()
    stop = threading.Event()
    consumer = EventConsumer(URL, prefix, worker._apply_event, stop)
    consumer.start()
    try:
        connection = pika.BlockingConnection(pika.URLParameters(URL))
        channel = connection.channel()
        channel.queue_declare(AmqpNames(prefix).events_queue, durable=True)
        for event in (b"not json", json.dumps({
                "delivery_id": created["delivery"]["id"], "order_ref": created["ref"], "state": 6,
                "state_name": "AWAITING_PICKUP", "reason": "", "drone_id": "drone_2", "locker_id": "locker_1",
                "cell_id": 7, "attempts": 1, "drop_confirmed": True, "stamp": 1234.5, "eta": None}).encode()):
            channel.basic_publish("", AmqpNames(prefix).events_queue, event)
        connection.close()

        def status():
            with amqp_app.app_context():
                order = db.session.get(Order, created["id"])
                value = (order.status, order.delivery.cell_id)
                db.session.remove()
                return value == ("AWAITING_PICKUP", 7)

        wait_for(status, 30, "the event applied")
    finally:
        stop.set()
        consumer.thread.join(30)
    assert not consumer.thread.is_alive()
    for transport in worker.transports.values():
        getattr(transport, "close", lambda: None)()
