"""The real roslibpy path: `skypost-web worker` (its own process, as Twisted's reactor runs once per process)
against a rosbridge-protocol double: auth first on every connection, submit through /fleet/submit_delivery,
status from /fleet/delivery_status, /skypost/validate_pickup served for the locker, reconnect + reconcile."""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WORLD, wait_for
from fake_rosbridge import FakeRosbridge
from skypost_web import create_app
from skypost_web.ros.fake import ros_time
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.unit
SECRET = "bridge-secret-shared-with-the-test-bridge-0123"
JWT_KEY = "jwt-secret-of-the-web-app-for-this-test-0123456"
TIMEOUT = 60


def status(delivery_id: str, state: int, name: str, stamp: float, cell: int = 0) -> dict:
    return {"header": {"stamp": ros_time(stamp), "frame_id": ""}, "delivery_id": delivery_id, "state": state,
            "state_name": name, "priority": 0, "drone_id": "drone_1", "locker_id": "locker_1", "cell_id": cell,
            "cell_size": "S", "attempts": 1, "reason": "", "drop_confirmed": True, "created": ros_time(1.0),
            "updated": ros_time(stamp), "eta": None}


def cli() -> list[str]:
    script = shutil.which("skypost-web", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "skypost_web.cli"]


@pytest.fixture
def bridge():
    server = FakeRosbridge(SECRET).start()
    yield server
    server.stop()


def test_worker_over_roslibpy(tmp_path, bridge):
    db_url = f"sqlite:///{tmp_path / 'site.sqlite'}"
    env = {**os.environ, "SKYPOST_DATABASE_URL": db_url, "SKYPOST_BRIDGE_URL": f"ws://127.0.0.1:{bridge.port}",
           "SKYPOST_BRIDGE_SECRET": SECRET, "SKYPOST_JWT_SECRET_KEY": JWT_KEY, "SKYPOST_WORLD_FILE": str(WORLD),
           "SKYPOST_DISPATCH_INTERVAL": "0.2", "SKYPOST_BRIDGE_MAX_RECONNECT_DELAY": "2", "SKYPOST_BCRYPT_ROUNDS": "4"}
    for command in (["init-db"], ["seed", "--password", "demo-password-1"]):
        done = subprocess.run([*cli(), *command], env=env, capture_output=True, text=True, timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
    assert "account customer: password demo-password-1" in done.stdout

    app = create_app({"DATABASE_URL": db_url, "ROS_LINK": "none", "JWT_SECRET_KEY": JWT_KEY, "BCRYPT_ROUNDS": 4},
                     environ={})
    client = app.test_client()
    login = client.post("/api/v1/auth/login", json={"username": "customer", "password": "demo-password-1"})
    headers = {"Authorization": f"Bearer {login.get_json()['data']['access_token']}"}
    order = client.post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}], "locker_id": "locker_1"},
                        headers=headers).get_json()["data"]
    delivery_id = order["delivery"]["id"]
    engine = create_engine(db_url)

    def order_status() -> str:
        with engine.connect() as conn:
            return conn.execute(text("SELECT status FROM orders WHERE id = :id"), {"id": order["id"]}).scalar()

    fleet_state = {"state": (0, "QUEUED")}
    bridge.services["/fleet/submit_delivery"] = lambda args: {
        "success": True, "message": "queued", "duplicate": False,
        "status": status(args["delivery_id"], 0, "QUEUED", 10.0)}
    bridge.services["/fleet/get_delivery"] = lambda args: {
        "success": True, "message": "", "status": status(args["delivery_id"], *fleet_state["state"], 30.0, cell=5),
        "history": []}

    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed in finally
    worker = subprocess.Popen([*cli(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        # first connection: auth first, as the service role; then the submission
        wait_for(lambda: bridge.ops_named("call_service"), TIMEOUT, "the submission")
        assert bridge.ops[0]["op"] == "auth" and bridge.auth_claims[0]["role"] == "service"
        submit = bridge.ops_named("call_service")[0]
        assert submit["service"] == "/fleet/submit_delivery" and submit["args"]["delivery_id"] == delivery_id
        assert submit["args"] == {"delivery_id": delivery_id, "order_ref": order["ref"], "locker_id": "locker_1",
                                  "cell_size": "S", "priority": 0, "weight_kg": pytest.approx(0.12)}
        wait_for(lambda: order_status() == "QUEUED", TIMEOUT, "QUEUED in the database")

        # status topic -> order; the locker calls the pickup service the web app advertises
        wait_for(lambda: {"/fleet/delivery_status", "/fleet/summary"} <= bridge.subscriptions, TIMEOUT, "subscriptions")
        wait_for(lambda: "/skypost/validate_pickup" in bridge.advertised, TIMEOUT, "advertised pickup service")
        bridge.publish("/fleet/delivery_status", status(delivery_id, 6, "AWAITING_PICKUP", 20.0, cell=5))
        wait_for(lambda: order_status() == "AWAITING_PICKUP", TIMEOUT, "AWAITING_PICKUP in the database")
        code = client.get(f"/api/v1/orders/{order['id']}/qr", headers=headers).get_json()["data"]["code"]
        bridge.call_client_service("/skypost/validate_pickup", {"locker_id": "locker_1", "code": code}, "pick-1")
        answer = wait_for(lambda: bridge.responses.get("pick-1"), TIMEOUT, "validate_pickup answer")
        assert answer["result"] is True
        assert answer["values"] == {"success": True, "message": "ok", "delivery_id": delivery_id, "cell_id": 5}

        # the bridge goes away: the worker reconnects, authenticates first, re-subscribes and reconciles
        fleet_state["state"] = (7, "COMPLETED")
        first_ops = len(bridge.ops)
        bridge.drop()
        wait_for(lambda: bridge.connections >= 2 and len(bridge.auth_claims) >= 2, TIMEOUT, "re-authentication")
        wait_for(lambda: order_status() == "COMPLETED", TIMEOUT, "COMPLETED through reconciliation")
        second = bridge.ops[first_ops:]
        assert second[0]["op"] == "auth"
        assert any(op["op"] == "call_service" and op["service"] == "/fleet/get_delivery" for op in second)
        wait_for(lambda: "/skypost/validate_pickup" in bridge.advertised, TIMEOUT, "re-advertised pickup service")
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
        try:
            code = worker.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            code = worker.wait(10)
        log.close()
        engine.dispose()
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
