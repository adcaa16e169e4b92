"""The web app through the real bridge: `skypost-web worker` (roslibpy) <-> bridge_node <-> the real fleet manager
with fake drones and lockers. An order placed over REST is flown, validated at the locker through the web app's
/skypost/validate_pickup, completed; with the bridge down an order waits in the outbox and goes when it returns."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rosgraph
import rospy
import yaml
from fakes.site import WORLD, FleetSite
from harness import ROOT, free_port, port_open, wait_for
from skypost.srv import ReleaseCell, ValidatePickup
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.ros
ROSCORE_PARAMS = {"/skypost/world_file": str(WORLD)}
SECRET = "bridge-secret-for-the-web-bridge-ros-test-0123456789"
JWT_KEY = "jwt-secret-for-the-web-bridge-ros-test-0123456789"
STARTUP = 90.0
FLOW = 120.0


def web_cli() -> list[str]:
    script = shutil.which("skypost-web", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "skypost_web.cli"]


class Bridge:
    """bridge_node started by path (like the fleet tests do) with config/bridge.yaml's allow-lists."""

    def __init__(self, processes, roscore) -> None:
        self.processes, self.port, self.proc = processes, free_port(), None
        roles = yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())["roles"]
        rosgraph.Master("/web_bridge_test", master_uri=roscore.uri).setParam("/bridge/roles", roles)

    def start(self) -> None:
        self.proc = self.processes.start("bridge", [
            sys.executable, str(ROOT / "nodes" / "bridge_node"), "__name:=bridge", f"_port:={self.port}",
            f"_auth_secret:={SECRET}", "_auth_required:=true"])
        wait_for(lambda: self.proc.poll() is None and port_open("127.0.0.1", self.port), STARTUP, "the bridge")

    def stop(self) -> None:
        self.processes.stop(self.proc)
        wait_for(lambda: not port_open("127.0.0.1", self.port), 30, "the bridge to go")


@pytest.fixture(scope="module")
def site(rospy_node, ros_processes, tmp_path_factory):
    site = FleetSite(ros_processes, tmp_path_factory.mktemp("fleet") / "fleet.sqlite")
    site.start_fakes()
    site.start_fleet()
    return site


@pytest.fixture(scope="module")
def bridge(site, ros_processes, roscore):
    bridge = Bridge(ros_processes, roscore)
    bridge.start()
    return bridge


@pytest.fixture(scope="module")
def web(bridge, ros_processes, tmp_path_factory):
    from skypost_web import create_app

    db_url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.sqlite'}"
    env = {"SKYPOST_DATABASE_URL": db_url, "SKYPOST_BRIDGE_URL": f"ws://127.0.0.1:{bridge.port}",
           "SKYPOST_BRIDGE_SECRET": SECRET, "SKYPOST_JWT_SECRET_KEY": JWT_KEY, "SKYPOST_WORLD_FILE": str(WORLD),
           "SKYPOST_DISPATCH_INTERVAL": "0.2", "SKYPOST_BRIDGE_MAX_RECONNECT_DELAY": "2",
           "SKYPOST_SUMMARY_CACHE_PERIOD": "0.5", "SKYPOST_BCRYPT_ROUNDS": "4"}
    for command in (["init-db"], ["seed", "--password", "demo-password-1"]):
        done = subprocess.run([*web_cli(), *command], env={**os.environ, **env}, capture_output=True, text=True,
                              timeout=STARTUP)
        assert done.returncode == 0, done.stderr
    worker = ros_processes.start("web_worker", [*web_cli(), "worker"], env=env)
    app = create_app({"DATABASE_URL": db_url, "ROS_LINK": "none", "JWT_SECRET_KEY": JWT_KEY, "BCRYPT_ROUNDS": 4},
                     environ={})
    client = app.test_client()
    tokens = {}
    for user in ("customer", "admin"):
        login = client.post("/api/v1/auth/login", json={"username": user, "password": "demo-password-1"})
        tokens[user] = {"Authorization": f"Bearer {login.get_json()['data']['access_token']}"}
    engine = create_engine(db_url)
    yield {"client": client, "tokens": tokens, "engine": engine, "worker": worker}
    engine.dispose()


def order_status(web, order_id: int) -> str:
    with web["engine"].connect() as conn:
        return conn.execute(text("SELECT status FROM orders WHERE id = :id"), {"id": order_id}).scalar()


def place(web) -> dict:
    response = web["client"].post("/api/v1/orders", json={"items": [{"good_id": 1, "quantity": 1}],
                                                          "locker_id": "locker_1"}, headers=web["tokens"]["customer"])
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()["data"]


def test_order_flies_and_is_picked_up_through_the_bridge(site, web):
    order = place(web)
    delivery_id = order["delivery"]["id"]
    wait_for(lambda: order_status(web, order["id"]) == "AWAITING_PICKUP", FLOW, "the parcel in the cell")
    fleet_status = site.state(delivery_id)
    assert fleet_status.state_name == "AWAITING_PICKUP"

    code = web["client"].get(f"/api/v1/orders/{order['id']}/qr", headers=web["tokens"]["customer"])
    code = code.get_json()["data"]["code"]
    rospy.wait_for_service("/skypost/validate_pickup", timeout=STARTUP)
    validate = rospy.ServiceProxy("/skypost/validate_pickup", ValidatePickup)
    wrong = validate(locker_id="locker_1", code="nope.nope")
    assert not wrong.success and wrong.message == "unknown code"
    right = validate(locker_id="locker_1", code=code)
    assert right.success and right.delivery_id == delivery_id and right.cell_id == fleet_status.cell_id
    assert validate(locker_id="locker_1", code=code).message == "code already used"

    pickup = rospy.ServiceProxy("/lockers/locker_1/sim/pickup", ReleaseCell)  # the customer takes the parcel
    assert pickup(reservation_id=delivery_id).success
    wait_for(lambda: order_status(web, order["id"]) == "COMPLETED", FLOW, "COMPLETED in the web app")
    history = web["client"].get(f"/api/v1/orders/{order['id']}", headers=web["tokens"]["customer"])
    states = [h["state"] for h in history.get_json()["data"]["delivery"]["history"]]
    assert states[0] == "QUEUED" and states[-1] == "COMPLETED" and "IN_FLIGHT" in states


def test_drones_come_from_the_fleet_summary(web):
    def drones():
        body = web["client"].get("/api/v1/admin/drones", headers=web["tokens"]["admin"]).get_json()["data"]
        return body if len(body["drones"]) == 3 else None

    body = wait_for(drones, FLOW, "the cached fleet summary")
    assert {d["drone_id"] for d in body["drones"]} == {"drone_1", "drone_2", "drone_3"}


def test_an_order_placed_while_the_bridge_is_down_goes_when_it_returns(site, bridge, web):
    bridge.stop()
    order = place(web)
    assert order["status"] == "PENDING"
    health = web["client"].get("/health").get_json()["data"]["checks"]
    assert health["database"]["ok"] is True
    bridge.start()
    wait_for(lambda: order_status(web, order["id"]) == "AWAITING_PICKUP", FLOW, "the late order delivered")
    assert site.state(order["delivery"]["id"]).attempts == 1
    assert web["worker"].poll() is None
