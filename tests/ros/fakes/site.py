"""Helpers for the fleet's ROS tests: start the fakes and the fleet node, submit, wait for states."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

import rospy
from harness import ROOT, wait_for
from skypost.msg import DeliveryStatus, FleetSummary
from skypost.srv import (
    CancelDelivery,
    GetDelivery,
    ListDeliveries,
    RecallDrone,
    RetryDelivery,
    SetDroneInService,
    SetSitePaused,
    SubmitDelivery,
)

FAKES = Path(__file__).resolve().parent
WORLD = ROOT / "config" / "world.yaml"
NODE = ROOT / "nodes" / "fleet_manager"
STARTUP = 90.0  # node start-up on a loaded 2-core machine
# Short timeouts so failure paths finish in seconds (wall time; the fakes fly 0.3 s legs).
FLEET_PARAMS = {
    "drone_timeout": 5.0,
    "tick_period": 0.1,
    "round_period": 0.5,
    "service_timeout": 4.0,
    "goal_server_timeout": 4.0,
    "action_timeout": 10.0,
    "confirm_timeout": 3.0,
    "drop_timeout": 20.0,
    "goal_lost_grace": 4.0,
    "cruise_speed": 5.0,
    "auto_retries": 0,
}


def param_args(params: dict) -> list[str]:
    out = []
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        out.append(f"_{key}:={text}")
    return out


class FleetSite:
    """The test process's view: status stream, service proxies, process control."""

    def __init__(self, processes, db_path: Path) -> None:
        self.processes = processes
        self.db_path = db_path
        self.fleet = None
        self.lock = threading.Lock()
        self.statuses: dict[str, list[DeliveryStatus]] = {}
        self.summary: FleetSummary | None = None
        self.sub = rospy.Subscriber(
            "/fleet/delivery_status", DeliveryStatus, self._on_status, queue_size=1000
        )
        self.summary_sub = rospy.Subscriber("/fleet/summary", FleetSummary, self._on_summary, queue_size=5)
        self.submit = rospy.ServiceProxy("/fleet/submit_delivery", SubmitDelivery)
        self.get = rospy.ServiceProxy("/fleet/get_delivery", GetDelivery)
        self.list = rospy.ServiceProxy("/fleet/list_deliveries", ListDeliveries)
        self.cancel = rospy.ServiceProxy("/fleet/cancel_delivery", CancelDelivery)
        self.retry = rospy.ServiceProxy("/fleet/retry_delivery", RetryDelivery)
        self.pause = rospy.ServiceProxy("/fleet/set_paused", SetSitePaused)
        self.in_service = rospy.ServiceProxy("/fleet/set_drone_in_service", SetDroneInService)
        self.recall = rospy.ServiceProxy("/fleet/recall_drone", RecallDrone)

    def _on_status(self, msg: DeliveryStatus) -> None:
        with self.lock:
            self.statuses.setdefault(msg.delivery_id, []).append(msg)

    def _on_summary(self, msg: FleetSummary) -> None:
        self.summary = msg

    # -- processes
    def start_fakes(
        self,
        drones: str = "drone_1,drone_2,drone_3",
        drone_params: dict | None = None,
        locker_params: dict | None = None,
    ) -> None:
        self.processes.start(
            "fake_drones",
            [
                sys.executable,
                str(FAKES / "fake_drones.py"),
                "__name:=fake_drones",
                f"_drones:={drones}",
                *param_args(drone_params or {}),
            ],
        )
        self.processes.start(
            "fake_lockers",
            [
                sys.executable,
                str(FAKES / "fake_lockers.py"),
                "__name:=fake_lockers",
                *param_args(locker_params or {}),
            ],
        )
        wait_for(lambda: _has_service("/lockers/locker_2/close_cell"), STARTUP, "fake lockers")
        for drone in drones.split(","):
            wait_for(lambda d=drone: _has_service(f"/{d}/drop_control"), STARTUP, f"fake {drone}")

    def start_fleet(self, name: str = "fleet", **params) -> None:
        merged = {**FLEET_PARAMS, "db_path": str(self.db_path), **params}
        # by path: `rosrun skypost fleet_manager` is ambiguous while catkin_ws/ is being rebuilt (the
        # workspace's src/skypost -> ../.. link makes build outputs look like more copies of the node)
        self.fleet = self.processes.start(
            name, [sys.executable, str(NODE), "__name:=fleet_manager", *param_args(merged)]
        )
        wait_for(
            lambda: self.fleet.poll() is None and _has_service("/fleet/confirm_loaded"),
            STARTUP,
            "the fleet manager's services",
        )

    def kill_fleet(self) -> None:
        """SIGKILL: no shutdown hook runs, as in a crash."""
        os.killpg(self.fleet.pid, signal.SIGKILL)
        self.fleet.wait(30)
        wait_for(lambda: not _has_service("/fleet/confirm_loaded"), 30, "the killed fleet's services to go")

    def stop_fleet(self) -> None:
        self.processes.stop(self.fleet)

    # -- deliveries
    def submit_one(
        self,
        delivery_id: str,
        locker: str = "locker_1",
        size: str = "S",
        priority: int = 0,
        weight: float = 0.3,
    ):
        resp = self.submit(delivery_id, f"order-{delivery_id}", locker, size, priority, weight)
        assert resp.success, resp.message
        return resp

    def state(self, delivery_id: str) -> DeliveryStatus:
        resp = self.get(delivery_id)
        assert resp.success, resp.message
        return resp.status

    def wait_state(self, delivery_id: str, state_name: str, timeout: float = 60.0) -> DeliveryStatus:
        def reached():
            status = self.state(delivery_id)
            return status if status.state_name == state_name else None

        try:
            return wait_for(reached, timeout, f"{delivery_id} to be {state_name}", interval=0.1)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}; now {self.state(delivery_id)}") from exc

    def published_states(self, delivery_id: str) -> list[str]:
        with self.lock:
            return [m.state_name for m in self.statuses.get(delivery_id, [])]


def _has_service(name: str) -> bool:
    try:
        rospy.wait_for_service(name, timeout=0.2)
    except rospy.ROSException:
        return False
    return True


def set_fake(param: str, value) -> None:
    rospy.set_param(param, value)


def drone_idle(site: FleetSite, drone_id: str) -> bool:
    summary = site.summary
    if summary is None:
        return False
    state = next((d for d in summary.drones if d.drone_id == drone_id), None)
    return state is not None and state.mission_state == 0 and not state.delivery_id
