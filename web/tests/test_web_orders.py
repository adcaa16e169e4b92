"""Orders: create (validation, atomic stock, locker choice, outbox), list own, get, cancel, QR code."""
import pytest
from conftest import assert_envelope
from skypost_web.extensions import db
from skypost_web.models import Delivery, Good, OutboxMessage
from sqlalchemy import select

pytestmark = pytest.mark.unit


def order(client, accounts, user="alice", **payload):
    return client.post("/api/v1/orders", json=payload, headers=accounts.headers(user))


def stock(app, good_id):
    with app.app_context():
        return db.session.get(Good, good_id).stock


def test_create_order_reserves_stock_and_writes_delivery_and_outbox(app, client, accounts, goods):
    body = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 2},
                                                          {"good_id": goods["book"], "quantity": 1}],
                                 locker_id="locker_2", priority="high"), 201)["data"]
    assert body["status"] == "PENDING" and body["locker_id"] == "locker_2" and body["cell_size"] == "M"
    assert body["weight_kg"] == pytest.approx(0.75) and body["priority"] == "high"
    assert body["delivery"]["state"] == "PENDING" and body["delivery"]["dispatched"] is False
    assert stock(app, goods["tea"]) == 8 and stock(app, goods["book"]) == 9
    with app.app_context():
        outbox = db.session.scalars(select(OutboxMessage)).all()
        assert len(outbox) == 1 and outbox[0].status == "pending"
        assert outbox[0].payload == {"delivery_id": body["delivery"]["id"], "order_ref": body["ref"],
                                     "locker_id": "locker_2", "cell_size": "M", "priority": 1, "weight_kg": 0.75}


def test_create_order_picks_a_locker_with_cells_of_the_size(client, accounts, goods):
    body = assert_envelope(order(client, accounts, items=[{"good_id": goods["heavy"], "quantity": 1}]), 201)
    assert body["data"]["locker_id"] in ("locker_1", "locker_2") and body["data"]["cell_size"] == "L"


@pytest.mark.parametrize("payload, field", [
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": "tea"}, "items"),
    ({"items": [{"quantity": 1}]}, "items"),
    ({"items": [{"good_id": 1, "quantity": 0}]}, "items"),
    ({"items": [{"good_id": 1, "quantity": 101}]}, "items"),
    ({"items": [{"good_id": "x", "quantity": 1}]}, "items"),
    ({"items": [{"good_id": 1, "quantity": 1}], "priority": "urgent"}, "priority"),
    ({"items": [{"good_id": 1, "quantity": 1}], "locker_id": ""}, "locker_id"),
    ({"items": [{"good_id": 1, "quantity": 1}], "locker_id": "a\x00b"}, "locker_id"),
    ({"items": [{"good_id": 1, "quantity": 1}, {"good_id": 1, "quantity": 2}]}, "items"),
    ({"items": [{"good_id": 1, "quantity": 1}], "surprise": True}, "surprise"),
])
def test_create_order_refuses_bad_input(app, client, accounts, goods, payload, field):
    body = assert_envelope(order(client, accounts, **payload), 400, "validation_error")
    assert field in body["error"]["fields"]
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage)).all() == []


def test_create_order_unknown_good_and_locker(client, accounts, goods):
    assert_envelope(order(client, accounts, items=[{"good_id": 999999, "quantity": 1}]), 404, "good_not_found")
    assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 1}], locker_id="locker_9"),
                    404, "locker_not_found")


def test_create_order_too_heavy_for_a_drone(client, accounts, goods):
    assert_envelope(order(client, accounts, items=[{"good_id": goods["heavy"], "quantity": 2}]), 400, "too_heavy")


def test_out_of_stock_changes_nothing(app, client, accounts, goods):
    items = [{"good_id": goods["tea"], "quantity": 1}, {"good_id": goods["scarce"], "quantity": 2}]
    assert_envelope(order(client, accounts, items=items), 409, "out_of_stock")
    assert stock(app, goods["tea"]) == 10 and stock(app, goods["scarce"]) == 1
    assert_envelope(order(client, accounts, items=[{"good_id": goods["scarce"], "quantity": 1}]), 201)
    assert_envelope(order(client, accounts, "bob", items=[{"good_id": goods["scarce"], "quantity": 1}]), 409,
                    "out_of_stock")
    assert stock(app, goods["scarce"]) == 0


def test_locker_devices_cannot_order(client, accounts, goods):
    assert_envelope(order(client, accounts, "locker1", items=[{"good_id": goods["tea"], "quantity": 1}]), 403,
                    "forbidden")


def test_users_see_only_their_own_orders(client, accounts, goods):
    mine = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 1}]), 201)["data"]
    theirs = assert_envelope(order(client, accounts, "bob", items=[{"good_id": goods["tea"], "quantity": 1}]),
                             201)["data"]
    listed = assert_envelope(client.get("/api/v1/orders", headers=accounts.headers("alice")), 200)["data"]
    assert [o["id"] for o in listed] == [mine["id"]]
    for path in ("", "/qr", "/qr.png"):
        assert_envelope(client.get(f"/api/v1/orders/{theirs['id']}{path}", headers=accounts.headers("alice")), 404,
                        "order_not_found")
    assert_envelope(client.post(f"/api/v1/orders/{theirs['id']}/cancel", headers=accounts.headers("alice")), 404,
                    "order_not_found")
    got = assert_envelope(client.get(f"/api/v1/orders/{mine['id']}", headers=accounts.headers("alice")), 200)
    assert got["data"]["ref"] == mine["ref"]


@pytest.mark.parametrize("order_id", [0, 999999, 2**31, 2**70])
def test_unknown_order_ids(client, accounts, order_id):
    assert_envelope(client.get(f"/api/v1/orders/{order_id}", headers=accounts.headers("alice")), 404,
                    "order_not_found")


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "offset=-1", "limit=1000"])
def test_list_orders_bad_paging(client, accounts, query):
    assert_envelope(client.get(f"/api/v1/orders?{query}", headers=accounts.headers("alice")), 400,
                    "validation_error")


def test_cancel_before_dispatch_is_immediate_and_restores_stock(app, client, accounts, goods):
    created = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 3}]), 201)["data"]
    cancelled = assert_envelope(client.post(f"/api/v1/orders/{created['id']}/cancel",
                                            headers=accounts.headers("alice")), 200)["data"]
    assert cancelled["status"] == "CANCELLED"
    assert stock(app, goods["tea"]) == 10
    with app.app_context():
        assert db.session.scalars(select(OutboxMessage.status)).all() == ["dropped"]
    assert_envelope(client.post(f"/api/v1/orders/{created['id']}/cancel", headers=accounts.headers("alice")), 409,
                    "not_cancellable")
    assert_envelope(client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers("alice")), 409,
                    "no_pickup_code")


def test_cancel_in_flight_is_refused_for_customers(app, client, accounts, goods):
    created = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 1}]), 201)["data"]
    with app.app_context():
        delivery = db.session.get(Delivery, created["delivery"]["id"])
        delivery.state = delivery.order.status = "IN_FLIGHT"
        delivery.dispatched = True
        db.session.commit()
    assert_envelope(client.post(f"/api/v1/orders/{created['id']}/cancel", headers=accounts.headers("alice")), 409,
                    "not_cancellable")


def test_qr_code_as_text_and_png(client, accounts, goods):
    created = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 1}]), 201)["data"]
    text = assert_envelope(client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers("alice")),
                           200)["data"]
    assert text["order_ref"] == created["ref"] and text["usable"] is False and "." in text["code"]
    again = client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers("alice")).get_json()
    assert again["data"]["code"] == text["code"]  # the same code every time, though only its hash is stored
    png = client.get(f"/api/v1/orders/{created['id']}/qr.png", headers=accounts.headers("alice"))
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n") and len(png.data) > 200


def test_the_database_never_holds_the_code(app, client, accounts, goods):
    from skypost_web.models import PickupCode

    created = assert_envelope(order(client, accounts, items=[{"good_id": goods["tea"], "quantity": 1}]), 201)["data"]
    code = client.get(f"/api/v1/orders/{created['id']}/qr", headers=accounts.headers("alice")).get_json()["data"]
    with app.app_context():
        row = db.session.scalar(select(PickupCode))
        stored = " ".join(str(getattr(row, c.name)) for c in PickupCode.__table__.columns)
    assert code["code"].split(".")[1] not in stored
