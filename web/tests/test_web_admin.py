"""Staff endpoints: roles, every order, deliveries with history, retry/cancel through the fleet, users, tokens."""
import jwt
import pytest
from conftest import assert_envelope
from skypost_web.worker import Worker

pytestmark = pytest.mark.unit


@pytest.fixture
def worker(app, link):
    worker = Worker(app, link=link)
    worker.attach()
    return worker


def place(client, accounts, goods, user="alice"):
    return assert_envelope(client.post("/api/v1/orders", json={"items": [{"good_id": goods["tea"], "quantity": 1}]},
                                       headers=accounts.headers(user)), 201)["data"]


STAFF_GETS = ["/api/v1/admin/orders", "/api/v1/admin/deliveries", "/api/v1/admin/drones"]


@pytest.mark.parametrize("path", [*STAFF_GETS, "/api/v1/admin/users"])
@pytest.mark.parametrize("user", ["alice", "locker1"])
def test_customers_and_devices_get_403(client, accounts, path, user):
    assert_envelope(client.get(path, headers=accounts.headers(user)), 403, "forbidden")


@pytest.mark.parametrize("path", [*STAFF_GETS, "/api/v1/admin/users"])
def test_no_token_gets_401(client, path):
    assert_envelope(client.get(path), 401, "unauthorized")


def test_operators_cannot_manage_users(client, accounts):
    assert_envelope(client.get("/api/v1/admin/users", headers=accounts.headers("oper")), 403, "forbidden")
    assert_envelope(client.patch(f"/api/v1/admin/users/{accounts.ids['bob']}", json={"role": "admin"},
                                 headers=accounts.headers("oper")), 403, "forbidden")


def test_staff_see_every_order_and_delivery_history(client, accounts, goods, fleet, worker):
    first, second = place(client, accounts, goods), place(client, accounts, goods, "bob")
    worker.tick()
    orders = assert_envelope(client.get("/api/v1/admin/orders", headers=accounts.headers("oper")), 200)["data"]
    assert {o["id"] for o in orders} == {first["id"], second["id"]}
    queued = assert_envelope(client.get("/api/v1/admin/orders?status=queued", headers=accounts.headers("admin")),
                             200)["data"]
    assert len(queued) == 2
    deliveries = assert_envelope(client.get("/api/v1/admin/deliveries", headers=accounts.headers("oper")),
                                 200)["data"]
    assert all(d["history"][0]["state"] == "QUEUED" for d in deliveries)
    one = assert_envelope(client.get(f"/api/v1/admin/deliveries/{first['delivery']['id']}",
                                     headers=accounts.headers("oper")), 200)["data"]
    assert one["order_ref"] == first["ref"]
    assert_envelope(client.get("/api/v1/admin/deliveries/nope", headers=accounts.headers("oper")), 404,
                    "delivery_not_found")


def test_retry_a_failed_delivery_through_the_fleet(client, accounts, goods, fleet, worker):
    created = place(client, accounts, goods)
    worker.tick()
    delivery_id = created["delivery"]["id"]
    path = f"/api/v1/admin/deliveries/{delivery_id}/retry"
    assert_envelope(client.post(path, json={}, headers=accounts.headers("oper")), 409, "retry_refused")
    fleet.transition(delivery_id, "FAILED", "drone_aborted")
    worker.tick()
    body = assert_envelope(client.post(path, json={"reason": "weather cleared"}, headers=accounts.headers("oper")),
                           200)["data"]
    assert body["success"] is True and body["delivery"]["state"] == "QUEUED"
    assert_envelope(client.post(path, json={"reason": 5}, headers=accounts.headers("oper")), 400, "validation_error")
    assert_envelope(client.post(path, json={}, headers=accounts.headers("alice")), 403, "forbidden")
    assert_envelope(client.post("/api/v1/admin/deliveries/nope/retry", json={}, headers=accounts.headers("oper")),
                    404, "delivery_not_found")


def test_retry_a_refused_submission_sends_it_again(client, accounts, goods, fleet, worker):
    fleet.refuse = "no such locker"
    created = place(client, accounts, goods)
    worker.tick()
    fleet.refuse = ""
    path = f"/api/v1/admin/deliveries/{created['delivery']['id']}/retry"
    body = assert_envelope(client.post(path, json={}, headers=accounts.headers("admin")), 200)["data"]
    assert body["delivery"]["state"] == "PENDING"
    worker.tick()
    order = client.get(f"/api/v1/orders/{created['id']}", headers=accounts.headers("alice")).get_json()["data"]
    assert order["status"] == "QUEUED"


def test_cancel_through_the_fleet_and_when_the_bridge_is_down(client, accounts, goods, link, fleet, worker):
    created = place(client, accounts, goods)
    worker.tick()
    path = f"/api/v1/admin/deliveries/{created['delivery']['id']}/cancel"
    link.set_up(False)
    assert_envelope(client.post(path, json={}, headers=accounts.headers("oper")), 503, "bridge_unavailable")
    link.set_up(True)
    body = assert_envelope(client.post(path, json={"reason": "storm"}, headers=accounts.headers("oper")), 200)["data"]
    assert body["delivery"]["state"] == "CANCELLED" and body["delivery"]["reason"] == "storm"
    assert_envelope(client.post(path, json={}, headers=accounts.headers("oper")), 409, "cancel_refused")


def test_cancel_of_an_undispatched_delivery_is_local(client, accounts, goods, link):
    link.set_up(False)
    created = place(client, accounts, goods)
    path = f"/api/v1/admin/deliveries/{created['delivery']['id']}/cancel"
    body = assert_envelope(client.post(path, json={}, headers=accounts.headers("admin")), 200)["data"]
    assert body["delivery"]["state"] == "CANCELLED"


def test_drones_without_a_summary_yet(client, accounts):
    body = assert_envelope(client.get("/api/v1/admin/drones", headers=accounts.headers("admin")), 200)["data"]
    assert body["drones"] == [] and body["updated_at"] is None


def test_users_list_and_update(client, accounts):
    users = assert_envelope(client.get("/api/v1/admin/users", headers=accounts.headers("admin")), 200)["data"]
    assert {u["username"] for u in users} >= {"alice", "bob", "admin"}
    assert all("password_hash" not in u for u in users)
    bob = f"/api/v1/admin/users/{accounts.ids['bob']}"
    assert assert_envelope(client.patch(bob, json={"role": "operator"}, headers=accounts.headers("admin")),
                           200)["data"]["role"] == "operator"
    assert_envelope(client.patch(bob, json={"role": "king"}, headers=accounts.headers("admin")), 400,
                    "validation_error")
    assert_envelope(client.patch(bob, json={"role": "locker"}, headers=accounts.headers("admin")), 409,
                    "locker_required")
    assert_envelope(client.patch(bob, json={"locker_id": "locker_9"}, headers=accounts.headers("admin")), 404,
                    "locker_not_found")
    assert_envelope(client.patch("/api/v1/admin/users/999999", json={}, headers=accounts.headers("admin")), 404,
                    "user_not_found")


def test_bridge_token_for_staff_only(app, client, accounts):
    body = assert_envelope(client.post("/api/v1/bridge/token", headers=accounts.headers("oper")), 200)["data"]
    claims = jwt.decode(body["token"], app.config["BRIDGE_SECRET"], algorithms=["HS256"])
    assert claims["sub"] == "oper" and claims["role"] == "operator"
    assert 0 < claims["exp"] - claims["iat"] <= app.config["BRIDGE_TOKEN_TTL"]
    assert body["url"] == app.config["BRIDGE_URL"]
    assert_envelope(client.post("/api/v1/bridge/token", headers=accounts.headers("alice")), 403, "forbidden")
    assert_envelope(client.post("/api/v1/bridge/token"), 401, "unauthorized")


def test_goods_admin_writes(client, accounts, goods):
    new = {"sku": "SKU-NEW", "name": "New", "price_cents": 5, "weight_kg": 0.1, "size": "S", "stock": 3}
    assert_envelope(client.post("/api/v1/goods", json=new, headers=accounts.headers("alice")), 403, "forbidden")
    created = assert_envelope(client.post("/api/v1/goods", json=new, headers=accounts.headers("admin")), 201)["data"]
    assert_envelope(client.post("/api/v1/goods", json=new, headers=accounts.headers("admin")), 409, "sku_taken")
    assert_envelope(client.post("/api/v1/goods", json={**new, "size": "XL"}, headers=accounts.headers("admin")), 400,
                    "validation_error")
    patched = client.patch(f"/api/v1/goods/{created['id']}", json={"stock": 9}, headers=accounts.headers("admin"))
    assert assert_envelope(patched, 200)["data"]["stock"] == 9
    assert_envelope(client.patch(f"/api/v1/goods/{created['id']}", json={"stock": -1},
                                 headers=accounts.headers("admin")), 400, "validation_error")
    listed = assert_envelope(client.get("/api/v1/goods"), 200)["data"]
    assert created["id"] in {g["id"] for g in listed}
    assert_envelope(client.get("/api/v1/goods/999999"), 404, "good_not_found")


def test_lockers_from_the_world_file(client):
    lockers = assert_envelope(client.get("/api/v1/lockers"), 200)["data"]
    assert [lk["id"] for lk in lockers] == ["locker_1", "locker_2"]
    one = assert_envelope(client.get("/api/v1/lockers/locker_1"), 200)["data"]
    assert one["marker_id"] == 11 and one["cells_by_size"] == {"S": 3, "M": 3, "L": 2}
    assert one["position"] == [24.0, 8.0, 0.0]
    assert_envelope(client.get("/api/v1/lockers/locker_9"), 404, "locker_not_found")
