"""Dispatch through the outbox and status back from the fleet, with the fake RosLink and fleet double."""
import datetime as dt
import threading
from collections import Counter

import pytest
from conftest import assert_envelope
from skypost_web.extensions import db
from skypost_web.models import Delivery, DeliveryEvent, Good, Notification, Order, OutboxMessage, utcnow
from skypost_web.ros import names
from skypost_web.services.deliveries import ApplyPolicy
from skypost_web.services.dispatch import Ack, Dispatcher, TransportError
from skypost_web.services.notify import LogNotifier
from skypost_web.worker import Worker
from sqlalchemy import select

pytestmark = pytest.mark.unit


def place(client, accounts, goods, user="alice", quantity=1):
    response = client.post("/api/v1/orders", json={"items": [{"good_id": goods["tea"], "quantity": quantity}]},
                           headers=accounts.headers(user))
    return assert_envelope(response, 201)["data"]


def get_order(client, accounts, order_id, user="alice"):
    return assert_envelope(client.get(f"/api/v1/orders/{order_id}", headers=accounts.headers(user)), 200)["data"]


@pytest.fixture
def worker(app, link):
    worker = Worker(app, link=link)
    worker.attach()
    return worker


def test_order_is_dispatched_and_follows_the_fleet(app, client, accounts, goods, fleet, worker):
    created = place(client, accounts, goods)
    worker.tick()
    delivery_id = created["delivery"]["id"]
    assert fleet.submissions == [delivery_id]
    assert get_order(client, accounts, created["id"])["status"] == "QUEUED"
    fleet.transition(delivery_id, "ASSIGNED", drone_id="drone_1", cell_id=4)
    fleet.transition(delivery_id, "IN_FLIGHT", drone_id="drone_1", cell_id=4, eta=42.0)
    worker.tick()
    live = get_order(client, accounts, created["id"])
    assert live["status"] == "IN_FLIGHT" and live["delivery"]["drone_id"] == "drone_1"
    assert 0 < live["delivery"]["eta_s"] <= 42.0
    assert [h["state"] for h in live["delivery"]["history"]] == ["QUEUED", "ASSIGNED", "IN_FLIGHT"]
    fleet.transition(delivery_id, "AWAITING_PICKUP", drone_id="drone_1", cell_id=4, drop_confirmed=True)
    worker.tick()
    ready = get_order(client, accounts, created["id"])
    assert ready["pickup_ready"] is True and ready["delivery"]["cell_id"] == 4 and ready["delivery"]["eta_s"] is None
    with app.app_context():
        assert db.session.scalars(select(Notification.kind)).all() == ["delivered"]


def test_bridge_down_while_ordering_keeps_the_order_and_dispatches_when_it_returns(
        app, client, accounts, goods, link, fleet, worker):
    link.set_up(False)
    created = place(client, accounts, goods)
    worker.tick()
    assert fleet.submissions == []
    assert get_order(client, accounts, created["id"])["status"] == "PENDING"
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "pending"
    link.set_up(True)
    worker.tick()
    assert fleet.submissions == [created["delivery"]["id"]]
    assert get_order(client, accounts, created["id"])["status"] == "QUEUED"
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "sent"


def test_failed_sends_back_off_and_retry(app, client, accounts, goods, link, fleet):
    calls = []

    def flaky(request):
        calls.append(request["delivery_id"])
        if len(calls) == 1:
            from skypost_web.ros.link import LinkTimeoutError

            raise LinkTimeoutError("no answer")
        return fleet.submit(request)

    link.services[names.SUBMIT_DELIVERY[0]] = flaky
    worker = Worker(app, link=link)
    worker.dispatcher.backoff_base = 30.0
    created = place(client, accounts, goods)
    now = utcnow()
    with app.app_context():
        assert worker.dispatcher.run_once(now).retried == 1
        row = db.session.scalar(select(OutboxMessage))
        assert row.status == "pending" and row.attempts == 1 and "no answer" in row.last_error
        assert row.next_attempt_at >= now + dt.timedelta(seconds=29)
        assert worker.dispatcher.run_once(now + dt.timedelta(seconds=10)).sent == 0  # backing off
        assert worker.dispatcher.run_once(now + dt.timedelta(seconds=31)).sent == 1
    assert calls == [created["delivery"]["id"]] * 2


def test_a_refused_submission_fails_the_order(app, client, accounts, goods, fleet, worker):
    fleet.refuse = "locker_9 unknown"
    created = place(client, accounts, goods)
    worker.tick()
    failed = get_order(client, accounts, created["id"])
    assert failed["status"] == "FAILED" and "locker_9 unknown" in failed["delivery"]["reason"]
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "refused"


def test_a_duplicate_counts_as_acknowledged(app, client, accounts, goods, fleet, worker):
    created = place(client, accounts, goods)
    fleet.submit({"delivery_id": created["delivery"]["id"], "locker_id": "locker_1"})  # the fleet already has it
    worker.tick()
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "sent"
        assert db.session.get(Delivery, created["delivery"]["id"]).dispatched is True


def test_status_updates_are_idempotent_and_ordered(app, client, accounts, goods, link, fleet, worker):
    created = place(client, accounts, goods)
    worker.tick()
    delivery_id = created["delivery"]["id"]
    assigned = fleet.transition(delivery_id, "ASSIGNED", publish=False)
    flying = fleet.transition(delivery_id, "IN_FLIGHT", publish=False)
    for message in (flying, assigned, flying, assigned):  # out of order and repeated
        link.publish(names.DELIVERY_STATUS[0], message)
    worker.tick()
    live = get_order(client, accounts, created["id"])
    assert live["status"] == "IN_FLIGHT"
    with app.app_context():
        states = Counter(db.session.scalars(select(DeliveryEvent.state)).all())
    assert states == {"QUEUED": 1, "ASSIGNED": 1, "IN_FLIGHT": 1}


def test_malformed_or_unknown_statuses_are_ignored(app, client, accounts, goods, link, worker):
    created = place(client, accounts, goods)
    for message in ({}, {"delivery_id": "nope", "state": 3}, {"delivery_id": created["delivery"]["id"], "state": 99},
                    {"delivery_id": created["delivery"]["id"], "state": "x", "cell_id": "a"}):
        link.publish(names.DELIVERY_STATUS[0], message)
    worker.tick()
    assert get_order(client, accounts, created["id"])["status"] in ("PENDING", "QUEUED")


def test_reconnect_reconciles_what_was_missed(app, client, accounts, goods, link, fleet, worker):
    created = place(client, accounts, goods)
    worker.tick()
    delivery_id = created["delivery"]["id"]
    link.set_up(False)
    fleet.transition(delivery_id, "ASSIGNED")  # published while the bridge is down: lost
    fleet.transition(delivery_id, "AWAITING_PICKUP", cell_id=2)
    worker.tick()
    assert get_order(client, accounts, created["id"])["status"] == "QUEUED"
    link.set_up(True)
    worker.tick()
    reconciled = get_order(client, accounts, created["id"])
    assert reconciled["status"] == "AWAITING_PICKUP" and reconciled["delivery"]["cell_id"] == 2
    assert [h["state"] for h in reconciled["delivery"]["history"]] == ["QUEUED", "ASSIGNED", "AWAITING_PICKUP"]


def test_cancel_after_dispatch_goes_through_the_outbox(app, client, accounts, goods, link, fleet, worker):
    created = place(client, accounts, goods, quantity=2)
    worker.tick()
    link.set_up(False)
    requested = assert_envelope(client.post(f"/api/v1/orders/{created['id']}/cancel",
                                            headers=accounts.headers("alice")), 200)["data"]
    assert requested["status"] == "QUEUED"  # until the fleet confirms
    worker.tick()
    link.set_up(True)
    worker.tick()
    assert get_order(client, accounts, created["id"])["status"] == "CANCELLED"
    with app.app_context():
        assert db.session.get(Good, goods["tea"]).stock == 10
        assert sorted(db.session.scalars(select(OutboxMessage.kind)).all()) == ["cancel", "submit"]


def test_fleet_summary_is_cached_for_the_admin_endpoints(app, client, accounts, link, worker):
    summary = {"paused": False, "drones_total": 1, "drones_idle": 1, "deliveries_queued": 0,
               "drones": [{"drone_id": "drone_1", "mission_state_name": "IDLE", "delivery_id": "",
                           "battery_known": True, "battery_percentage": 0.8, "in_service": True,
                           "pose": {"position": {"x": 1.0, "y": 2.0, "z": 0.0}}, "message": ""}]}
    link.publish(names.FLEET_SUMMARY[0], summary)
    worker.tick()
    body = assert_envelope(client.get("/api/v1/admin/drones", headers=accounts.headers("oper")), 200)["data"]
    assert body["drones"][0]["drone_id"] == "drone_1" and body["drones"][0]["battery"] == pytest.approx(0.8)
    assert body["counts"]["drones_total"] == 1 and body["age_s"] >= 0


class RecordingTransport:
    """Counts sends per delivery; the first send of each row waits on a barrier so both dispatchers overlap."""

    name = "recording"

    def __init__(self, parties: int) -> None:
        self.sent: Counter = Counter()
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(parties, timeout=30)
        self.first = True

    def ready(self) -> bool:
        return True

    def send(self, message: OutboxMessage) -> Ack:
        with self.lock:
            self.sent[message.delivery_id] += 1
            wait, self.first = self.first, False
        if wait:
            try:
                self.barrier.wait()
            except threading.BrokenBarrierError as exc:
                raise TransportError("the other dispatcher never ran") from exc
        return Ack(True, "ok")


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"], indirect=True)
def test_two_dispatchers_never_send_a_row_twice(app, client, accounts, goods):
    with app.app_context():
        db.session.get(Good, goods["tea"]).stock = 100
        db.session.commit()
    orders = [place(client, accounts, goods, user=("alice", "bob")[i % 2]) for i in range(30)]
    transport = RecordingTransport(parties=2)
    errors = []

    def run(barrier_party: bool) -> None:
        dispatcher = Dispatcher({"submit": transport}, ApplyPolicy(LogNotifier(), 72), batch=4)
        with app.app_context():
            try:
                if barrier_party:  # the second dispatcher meets the first one inside its send
                    transport.barrier.wait()
                while dispatcher.run_once().sent:
                    pass
            except Exception as exc:
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(False,)), threading.Thread(target=run, args=(True,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    assert set(transport.sent) == {o["delivery"]["id"] for o in orders}
    assert max(transport.sent.values()) == 1
    with app.app_context():
        assert set(db.session.scalars(select(OutboxMessage.status)).all()) == {"sent"}
        assert set(db.session.scalars(select(Order.status)).all()) == {"PENDING"}
