"""The fleet's hands: locker service calls, the drones' Deliver goals and drop_control, each with a timeout.

RosEffects turns the lifecycle's actions into these calls on the keyed executor (in order per delivery) and
reports every result back to the core as an event tagged with the attempt that asked for it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import actionlib
import rospy
from actionlib_msgs.msg import GoalID
from geometry_msgs.msg import Point
from skypost.msg import DeliverAction, DeliverGoal
from skypost.srv import (
    CloseCell,
    CloseCellRequest,
    DropControl,
    DropControlRequest,
    OpenCell,
    OpenCellRequest,
    ReleaseCell,
    ReleaseCellRequest,
    ReserveCell,
    ReserveCellRequest,
)

from skypost_fleet import lifecycle as lc
from skypost_fleet.executor import KeyedSerialExecutor
from skypost_fleet.registry import Registry


class CallFailedError(Exception):
    pass


def call_with_timeout(proxy: rospy.ServiceProxy, request: Any, timeout: float) -> Any:
    """rospy service calls cannot time out by themselves: wait for the service, then run the call on a helper
    thread and give up on it after `timeout` seconds (the thread ends when the socket does)."""
    try:
        proxy.wait_for_service(timeout)
    except rospy.ROSException as exc:
        raise CallFailedError(f"{proxy.resolved_name} not available within {timeout:.1f} s") from exc
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["response"] = proxy.call(request)
        except Exception as exc:  # rospy.ServiceException, transport errors
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"call {proxy.resolved_name}", daemon=True).start()
    if not done.wait(timeout):
        raise CallFailedError(f"{proxy.resolved_name} did not answer within {timeout:.1f} s")
    if "error" in outcome:
        raise CallFailedError(f"{proxy.resolved_name} failed: {outcome['error']}")
    return outcome["response"]


class LockerLink:
    def __init__(self, locker_id: str) -> None:
        ns = f"/lockers/{locker_id}"
        self.reserve = rospy.ServiceProxy(f"{ns}/reserve_cell", ReserveCell)
        self.release = rospy.ServiceProxy(f"{ns}/release_cell", ReleaseCell)
        self.open = rospy.ServiceProxy(f"{ns}/open_cell", OpenCell)
        self.close = rospy.ServiceProxy(f"{ns}/close_cell", CloseCell)


class DroneLink:
    """One drone's Deliver action client (sending), drop_control, and a cancel publisher that works for any
    goal id, including goals sent before a fleet restart."""

    def __init__(self, drone_id: str) -> None:
        self.drone_id = drone_id
        self.client = actionlib.SimpleActionClient(f"/{drone_id}/deliver", DeliverAction)
        self.drop_control = rospy.ServiceProxy(f"/{drone_id}/drop_control", DropControl)
        self.cancel_pub = rospy.Publisher(f"/{drone_id}/deliver/cancel", GoalID, queue_size=10)
        self.lock = threading.Lock()

    def send(self, goal: DeliverGoal, server_timeout: float) -> str:
        with self.lock:
            if not self.client.wait_for_server(rospy.Duration(server_timeout)):
                raise CallFailedError(f"/{self.drone_id}/deliver action server not available")
            self.client.send_goal(goal)
            return self.client.gh.comm_state_machine.action_goal.goal_id.id

    def cancel(self, goal_id: str) -> None:
        """Cancel one goal; an empty id cancels every goal of this drone (actionlib semantics)."""
        self.cancel_pub.publish(GoalID(stamp=rospy.Time(0), id=goal_id))


class RosEffects:
    """lc.Action -> ROS calls on the executor; results -> core.on_result."""

    def __init__(
        self,
        registry: Registry,
        lockers: dict[str, LockerLink],
        drones: dict[str, DroneLink],
        report: Callable[[str, lc.Event], None],
        publish: Callable[[Any], None],
        service_timeout: float,
        goal_server_timeout: float,
        reserve_ttl: float,
        workers: int,
    ) -> None:
        self.registry = registry
        self.lockers = lockers
        self.drones = drones
        self.report = report
        self.publish = publish
        self.service_timeout = service_timeout
        self.goal_server_timeout = goal_server_timeout
        self.reserve_ttl = reserve_ttl
        self.executor = KeyedSerialExecutor(workers)
        self.handlers: dict[type, Callable[[Any], None]] = {
            lc.ReserveCell: self._reserve,
            lc.ReleaseCell: self._release,
            lc.OpenCell: self._open,
            lc.CloseCell: self._close,
            lc.SendGoal: self._send_goal,
            lc.CancelGoal: self._cancel_goal,
            lc.SendDropControl: self._drop_control,
        }

    # -- Effects protocol
    def execute(self, actions: list[lc.Action], on_done: Callable[[], None] | None = None) -> None:
        for i, action in enumerate(actions):
            key = action.delivery_id or f"drone:{getattr(action, 'drone_id', '')}"
            last = on_done if i == len(actions) - 1 else None
            self.executor.submit(key, lambda a=action, done=last: self._run(a, done))

    def status(self, delivery: Any) -> None:
        self.publish(delivery)

    def shutdown(self) -> None:
        self.executor.shutdown()

    # -- one action
    def _run(self, action: lc.Action, on_done: Callable[[], None] | None) -> None:
        try:
            self.handlers[type(action)](action)
        except Exception:
            rospy.logerr(
                "fleet: %s for %s failed unexpectedly",
                type(action).__name__,
                action.delivery_id,
                exc_info=True,
            )
        if on_done is not None:
            try:
                on_done()
            except Exception:  # the store may be closed at shutdown; the entry is simply redone next start
                rospy.logwarn("fleet: could not mark %s done", type(action).__name__, exc_info=True)

    def _call(self, proxy: rospy.ServiceProxy, request: Any) -> Any:
        return call_with_timeout(proxy, request, self.service_timeout)

    def _reserve(self, a: lc.ReserveCell) -> None:
        try:
            resp = self._call(
                self.lockers[a.locker_id].reserve,
                ReserveCellRequest(
                    reservation_id=a.delivery_id, size=a.size, cell_id=a.cell_id, ttl=self.reserve_ttl
                ),
            )
        except CallFailedError as exc:
            self.report(a.delivery_id, lc.ReserveFailed(a.attempt, str(exc)))
            return
        if resp.success and resp.cell_id > 0:
            self.report(a.delivery_id, lc.Reserved(a.attempt, int(resp.cell_id)))
        else:
            self.report(a.delivery_id, lc.ReserveFailed(a.attempt, resp.message or "refused"))

    def _release(self, a: lc.ReleaseCell) -> None:
        try:
            resp = self._call(
                self.lockers[a.locker_id].release, ReleaseCellRequest(reservation_id=a.delivery_id)
            )
            if not resp.success:
                rospy.loginfo("fleet: %s release_cell(%s): %s", a.locker_id, a.delivery_id, resp.message)
        except CallFailedError as exc:  # the reservation expires by itself at the locker (ttl)
            rospy.logwarn("fleet: %s release_cell(%s) failed: %s", a.locker_id, a.delivery_id, exc)

    def _open(self, a: lc.OpenCell) -> None:
        try:
            resp = self._call(
                self.lockers[a.locker_id].open,
                OpenCellRequest(
                    cell_id=a.cell_id,
                    reservation_id=a.delivery_id,
                    maintenance=False,
                    reason=f"delivery {a.delivery_id}",
                ),
            )
        except CallFailedError as exc:
            self.report(a.delivery_id, lc.OpenFailed(a.attempt, str(exc)))
            return
        event = (
            lc.Opened(a.attempt) if resp.success else lc.OpenFailed(a.attempt, resp.message or "refused")
        )
        self.report(a.delivery_id, event)

    def _close(self, a: lc.CloseCell) -> None:
        try:
            resp = self._call(self.lockers[a.locker_id].close, CloseCellRequest(cell_id=a.cell_id))
        except CallFailedError as exc:
            self.report(a.delivery_id, lc.Closed(a.attempt, False, str(exc)))
            return
        self.report(a.delivery_id, lc.Closed(a.attempt, bool(resp.success), resp.message))

    def _send_goal(self, a: lc.SendGoal) -> None:
        locker = self.registry.lockers[a.locker_id]
        drone = self.registry.drones[a.drone_id]
        goal = DeliverGoal(
            delivery_id=a.delivery_id,
            locker_id=a.locker_id,
            marker_id=locker.marker_id,
            target=Point(*locker.position),
            cell_id=a.cell_id,
            base_id=a.base_id,
            base=Point(*drone.spot),
        )
        try:
            goal_id = self.drones[a.drone_id].send(goal, self.goal_server_timeout)
        except CallFailedError as exc:
            self.report(a.delivery_id, lc.GoalSendFailed(a.attempt, str(exc)))
            return
        self.report(a.delivery_id, lc.GoalSent(a.attempt, goal_id, a.drone_id))

    def _cancel_goal(self, a: lc.CancelGoal) -> None:
        link = self.drones.get(a.drone_id)
        if link is not None:
            link.cancel(a.goal_id)

    def _drop_control(self, a: lc.SendDropControl) -> None:
        try:
            resp = self._call(
                self.drones[a.drone_id].drop_control,
                DropControlRequest(delivery_id=a.delivery_id, event=a.signal),
            )
        except CallFailedError as exc:
            self.report(a.delivery_id, lc.Signalled(a.attempt, a.signal, False, str(exc)))
            return
        self.report(a.delivery_id, lc.Signalled(a.attempt, a.signal, bool(resp.success), resp.message))
