"""QR pickup through /skypost/validate_pickup (as the locker node calls it) and the locker device REST endpoint."""
import datetime as dt
import http.server
import json
import threading
import typing

import pytest
from conftest import assert_envelope
from skypost_web.extensions import db
from skypost_web.models import Notification, PickupAttempt, PickupCode, utcnow
from skypost_web.ros import names
from skypost_web.worker import Worker
from sqlalchemy import select

pytestmark = pytest.mark.unit
SERVICE = names.VALIDATE_PICKUP[0]


@pytest.fixture
def worker(app, link):
    worker = Worker(app, link=link)
    worker.attach()
    return worker


def ready_order(client, accounts, goods, fleet, worker, user="alice", locker="locker_1", cell=3):
    """An order whose parcel is in `cell` of `locker`; returns (order, code)."""
    created = assert_envelope(client.post("/api/v1/orders", json={
        "items": [{"good_id": goods["tea"], "quantity": 1}], "locker_id": locker}, headers=accounts.headers(user)),
        201)["data"]
    worker.tick()
    fleet.transition(created["delivery"]["id"], "AWAITING_PICKUP", cell_id=cell, locker_id=locker)
    worker.tick()
    code = client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers(user)).get_json()["data"]
    assert code["usable"] is True and code["expires_at"]
    return created, code["code"]


def validate(link, code, locker="locker_1"):
    return link.call_advertised(SERVICE, {"locker_id": locker, "code": code})


def test_the_locker_node_validates_and_consumes_a_code(app, client, accounts, goods, link, fleet, worker):
    created, code = ready_order(client, accounts, goods, fleet, worker)
    answer = validate(link, code)
    assert answer == {"success": True, "message": "ok", "delivery_id": created["delivery"]["id"], "cell_id": 3}
    again = validate(link, code)
    assert again["success"] is False and again["message"] == "code already used" and again["cell_id"] == 0
    with app.app_context():
        assert db.session.scalars(select(Notification.kind).order_by(Notification.id)).all() == [
            "delivered", "picked_up"]
    fleet.transition(created["delivery"]["id"], "COMPLETED", cell_id=3)  # the fleet saw the PickupEvent
    worker.tick()
    assert client.get(f"/api/v1/orders/{created['id']}", headers=accounts.headers("alice")).get_json()[
        "data"]["status"] == "COMPLETED"


def test_wrong_codes_are_refused_with_a_reason(client, accounts, goods, link, fleet, worker):
    _created, code = ready_order(client, accounts, goods, fleet, worker)
    public, secret = code.split(".")
    assert validate(link, f"{public}.{secret[::-1]}")["message"] == "unknown code"
    assert validate(link, "garbage")["message"] == "unknown code"
    assert validate(link, "")["message"] == "locker_id and code are required"
    assert validate(link, code, locker="locker_2")["message"] == "this parcel is at another locker"
    assert validate(link, code)["success"] is True


def test_a_code_before_the_parcel_arrives_is_refused(client, accounts, goods, link, fleet, worker):
    created = assert_envelope(client.post("/api/v1/orders", json={
        "items": [{"good_id": goods["tea"], "quantity": 1}], "locker_id": "locker_1"},
        headers=accounts.headers("alice")), 201)["data"]
    code = client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers("alice")).get_json()["data"]
    assert validate(link, code["code"]) == {"success": False, "message": "parcel not in the locker yet",
                                            "delivery_id": "", "cell_id": 0}


def test_an_expired_code_is_refused(app, client, accounts, goods, link, fleet, worker):
    _created, code = ready_order(client, accounts, goods, fleet, worker)
    with app.app_context():
        row = db.session.scalar(select(PickupCode))
        row.expires_at = utcnow() - dt.timedelta(seconds=1)
        db.session.commit()
    assert validate(link, code)["message"] == "code expired"


def test_attempts_are_limited_per_locker(app, client, accounts, goods, link, fleet, worker):
    _created, code = ready_order(client, accounts, goods, fleet, worker)
    for _ in range(app.config["PICKUP_MAX_FAILURES"]):
        assert validate(link, "aaaa.bbbb")["message"] == "unknown code"
    assert validate(link, code)["message"] == "too many wrong codes, try again later"
    assert validate(link, "x.y", locker="locker_2")["message"] == "unknown code"  # another locker is not blocked
    with app.app_context():  # once the window has passed the right code works again
        for attempt in db.session.scalars(select(PickupAttempt)):
            attempt.at -= dt.timedelta(seconds=app.config["PICKUP_FAILURE_WINDOW"] + 1)
        db.session.commit()
    assert validate(link, code)["success"] is True


def test_the_locker_device_rest_endpoint(client, accounts, goods, fleet, worker):
    created, code = ready_order(client, accounts, goods, fleet, worker)
    path = "/api/v1/pickup/validate"
    assert_envelope(client.post(path, json={"code": code}, headers=accounts.headers("alice")), 403, "forbidden")
    assert_envelope(client.post(path, json={"code": code}), 401, "unauthorized")
    assert_envelope(client.post(path, json={}, headers=accounts.headers("locker1")), 400, "validation_error")
    assert_envelope(client.post(path, json={"code": code, "locker_id": "locker_2"},
                                headers=accounts.headers("locker1")), 403, "wrong_locker")
    assert_envelope(client.post(path, json={"code": code}, headers=accounts.headers("locker2")), 409,
                    "pickup_refused")
    body = assert_envelope(client.post(path, json={"code": code}, headers=accounts.headers("locker1")), 200)["data"]
    assert body == {"delivery_id": created["delivery"]["id"], "order_ref": created["ref"], "cell_id": 3}
    refused = assert_envelope(client.post(path, json={"code": code}, headers=accounts.headers("locker1")), 409,
                              "pickup_refused")
    assert refused["error"]["message"] == "code already used"


class Hook(http.server.BaseHTTPRequestHandler):
    received: typing.ClassVar[list] = []

    def do_POST(self):
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_notifier_posts_each_event_once(backend, tmp_path, request):
    from conftest import Accounts, make_app
    from skypost_web.ros.fake import FakeFleet
    from skypost_web.services.seed import seed_lockers

    server = http.server.HTTPServer(("127.0.0.1", 0), Hook)
    Hook.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        app = make_app(backend, tmp_path, request, NOTIFIER="webhook",
                       WEBHOOK_URL=f"http://127.0.0.1:{server.server_port}/hook")
        with app.app_context():
            seed_lockers(app.config["WORLD_FILE"])
            db.session.commit()
        link = app.config["ROS_LINK"]
        fleet, accounts, client = FakeFleet(link), Accounts(app), app.test_client()
        worker = Worker(app, link=link)
        worker.attach()
        goods = _goods(app)
        created, code = ready_order(client, accounts, goods, fleet, worker)
        # the same transition again (replayed): no second notification
        fleet.transition(created["delivery"]["id"], "AWAITING_PICKUP", cell_id=3, locker_id="locker_1")
        worker.tick()
        assert validate(link, code)["success"] is True
    finally:
        server.shutdown()
        thread.join(10)
    assert [(e["kind"], e["order_ref"]) for e in Hook.received] == [("delivered", created["ref"]),
                                                                     ("picked_up", created["ref"])]
    with app.app_context():
        assert set(db.session.scalars(select(Notification.status)).all()) == {"sent"}
        db.session.remove()
        db.engine.dispose()


def _goods(app):
    from skypost_web.models import Good

    with app.app_context():
        good = Good(sku="tea", name="Tea", price_cents=100, weight_kg=0.2, size="S", stock=10)
        db.session.add(good)
        db.session.commit()
        return {"tea": good.id}
