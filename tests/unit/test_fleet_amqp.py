"""AMQP intake without a broker: message parsing, priority queue first, ack only after acceptance."""

import json
from types import SimpleNamespace

import pytest

from skypost_fleet.amqp import AmqpIntake, AmqpNames, event_body, parse_message
from skypost_fleet.model import Delivery, DeliveryRequest, InvalidRequestError

pytestmark = pytest.mark.unit
NAMES = AmqpNames("t.")


def body(**fields):
    return json.dumps({"delivery_id": "d1", **fields}).encode()


def test_parse_the_documented_message():
    request = parse_message(
        body(order_ref="o1", locker_id="locker_1", cell_size="M", priority=1, weight_kg=0.5),
        from_priority_queue=False,
    )
    assert request == DeliveryRequest("d1", "o1", "locker_1", "M", 1, 0.5)
    assert parse_message(body(), True).priority == 1  # the priority queue implies high priority
    assert parse_message(body(priority="high"), False).priority == 1


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (body(colour="red"), "unknown fields"),
        (body(priority="urgent"), "priority"),
        (body(priority=True), "priority"),
        (body(weight_kg="1"), "weight_kg"),
        (body(delivery_id=5), "delivery_id"),
        (b"x" * 70000, "bytes"),
    ],
)
def test_poison_messages_are_refused_with_a_reason(raw, fragment):
    with pytest.raises(InvalidRequestError, match=fragment):
        parse_message(raw, False)


class FakeChannel:
    def __init__(self, queues):
        self.queues = {name: list(items) for name, items in queues.items()}
        self.acked, self.nacked, self.published, self.tag = [], [], [], 0

    def basic_get(self, queue, auto_ack):
        if not self.queues.get(queue):
            return None, None, None
        self.tag += 1
        return (
            SimpleNamespace(delivery_tag=self.tag),
            SimpleNamespace(headers=None, content_type=None),
            self.queues[queue].pop(0),
        )

    def basic_ack(self, tag):
        self.acked.append(tag)

    def basic_nack(self, tag, requeue):
        self.nacked.append((tag, requeue))

    def basic_publish(self, exchange, routing_key, body, properties):
        self.published.append((routing_key, body, properties))


def intake(accept):
    return AmqpIntake("amqp://unused", NAMES, accept, idle_wait=0.0)


def test_priority_queue_is_served_first_and_acked_after_acceptance():
    accepted = []

    def accept(request):
        accepted.append((request.delivery_id, request.priority))
        return None, False

    channel = FakeChannel(
        {
            NAMES.queue: [body(delivery_id="n1"), body(delivery_id="n2")],
            NAMES.priority_queue: [body(delivery_id="p1")],
        }
    )
    amqp = intake(accept)
    while amqp._take_one(channel, NAMES.priority_queue, True) or amqp._take_one(
        channel, NAMES.queue, False
    ):
        pass
    assert accepted == [("p1", 1), ("n1", 0), ("n2", 0)]
    assert channel.acked == [1, 2, 3]


def test_refused_message_goes_to_the_dead_letter_queue_with_its_reason():
    def accept(request):
        raise InvalidRequestError("unknown locker 'x'")

    channel = FakeChannel({NAMES.queue: [body(locker_id="x")]})
    amqp = intake(accept)
    assert amqp._take_one(channel, NAMES.queue, False)
    ((routing_key, _body, properties),) = channel.published
    assert routing_key == "t.deliveries.dead" and properties.delivery_mode == 2
    assert properties.headers["x-skypost-reason"] == "unknown locker 'x'"
    assert channel.acked == [1] and amqp.stats["dead_lettered"] == 1


def test_unexpected_failure_is_redelivered_then_parked():
    def accept(request):
        raise OSError("disk full")

    channel = FakeChannel({NAMES.queue: [body()] * 3})
    amqp = intake(accept)
    for _ in range(3):
        amqp._take_one(channel, NAMES.queue, False)
    assert channel.nacked == [(1, True), (2, True)]
    assert channel.acked == [3] and "failed 3 times" in channel.published[0][2].headers["x-skypost-reason"]


def test_event_body_is_json_with_the_state():
    d = Delivery.new(DeliveryRequest("d1", "o1", "locker_1"), 10.0, 100.0)
    data = json.loads(event_body(d))
    assert data["delivery_id"] == "d1" and data["state_name"] == "QUEUED" and data["eta"] is None
