"""The fleet manager node: wires ~params, topics, services, timers and the AMQP intake to FleetCore."""

from __future__ import annotations

import functools
import logging
import math
import threading
from collections.abc import Callable
from typing import Any

import rospy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from skypost.msg import (
    DeliverActionFeedback,
    DeliverActionResult,
    DeliveryStatus,
    DroneState,
    FleetSummary,
    LockerState,
    PickupEvent,
)
from skypost.srv import (
    CancelDelivery,
    CancelDeliveryResponse,
    ConfirmLoaded,
    ConfirmLoadedResponse,
    GetDelivery,
    GetDeliveryResponse,
    ListDeliveries,
    ListDeliveriesResponse,
    RecallDrone,
    RecallDroneResponse,
    RetryDelivery,
    RetryDeliveryResponse,
    SetDroneInService,
    SetDroneInServiceResponse,
    SetSitePaused,
    SetSitePausedResponse,
    SubmitDelivery,
    SubmitDeliveryResponse,
)

from skypost_common.world import load_world
from skypost_fleet.amqp import AmqpIntake, AmqpNames
from skypost_fleet.config import NodeConfig
from skypost_fleet.core import FleetCore
from skypost_fleet.model import TERMINAL, Delivery, DeliveryRequest, FleetError, Mission, State
from skypost_fleet.registry import Registry
from skypost_fleet.ros_convert import (
    drone_report,
    locker_report,
    offline_drone_state,
    outcome_of,
    status_msg,
)
from skypost_fleet.ros_links import DroneLink, LockerLink, RosEffects
from skypost_fleet.store import Store


def boundary(response_cls: type) -> Callable:
    """The one place a service request fails: refused (FleetError) or broken (anything else), answered as
    success=false with a message, logged with the request."""

    def wrap(handler: Callable) -> Callable:
        @functools.wraps(handler)
        def run(self: FleetNode, req: Any) -> Any:
            try:
                return handler(self, req)
            except FleetError as exc:
                rospy.logwarn("fleet: %s refused: %s (%s)", handler.__name__, exc, _brief(req))
                return response_cls(success=False, message=str(exc))
            except Exception as exc:
                rospy.logerr("fleet: %s failed: %r (%s)", handler.__name__, exc, _brief(req), exc_info=True)
                return response_cls(success=False, message=f"internal error: {exc}")

        return run

    return wrap


def _brief(req: Any) -> str:
    return ", ".join(f"{k}={getattr(req, k)!r}" for k in req.__slots__ if k in ("delivery_id", "drone_id"))


class FleetNode:
    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        # -- params -> world, store, registry, core
        world_file = config.world or rospy.get_param("/skypost/world_file", "")
        if not world_file:
            raise ValueError("no world file: set ~world or /skypost/world_file")
        world = load_world(world_file)
        drone_ids = list(config.drones or list(world.drones)[: config.drone_count or None])
        locker_ids = list(config.lockers or list(world.lockers)[: config.locker_count or None])
        self.registry = Registry.from_world(
            world, drone_ids, locker_ids, config.drone_timeout, config.max_telemetry_age
        )
        self.store = Store(config.db_path)
        self.last_drone_msg: dict[str, DroneState] = {}
        self.last_locker_msg: dict[str, LockerState] = {}
        self.metrics = None
        self.amqp: AmqpIntake | None = None
        self._shutdown = threading.Event()
        # -- service clients (lockers, drones)
        self.lockers = {lk: LockerLink(lk) for lk in locker_ids}
        self.drones = {d: DroneLink(d) for d in drone_ids}
        self.effects = RosEffects(
            self.registry,
            self.lockers,
            self.drones,
            self._on_result,
            self._on_transition,
            config.service_timeout,
            config.goal_server_timeout,
            config.reserve_ttl,
            config.workers,
        )
        self.core = FleetCore(self.store, self.registry, config.fleet, rospy.get_time, self.effects)
        # -- publishers before anything can produce a transition
        self.status_pub = rospy.Publisher("/fleet/delivery_status", DeliveryStatus, queue_size=1000)
        self.summary_pub = rospy.Publisher("/fleet/summary", FleetSummary, queue_size=1, latch=True)
        self.diag_pub = rospy.Publisher("/diagnostics", DiagnosticArray, queue_size=10)
        if config.metrics_port:
            self._start_metrics()
        if config.amqp_url:
            self.amqp = AmqpIntake(
                config.amqp_url,
                AmqpNames(config.amqp_prefix),
                self._amqp_submit,
                publish_events=config.amqp_events,
                connection_name=f"skypost-fleet {config.amqp_prefix}".strip(),
                logger=logging.getLogger("rosout.fleet.amqp"),  # a child of rospy's logger reaches /rosout
            )
        _wait_for_clock()  # deadlines and heartbeats resumed from the store must not be judged at time 0
        resumed = self.core.start()
        # -- subscribers
        self.subs = []
        for drone_id in drone_ids:
            self.subs += [
                rospy.Subscriber(
                    f"/{drone_id}/state", DroneState, self._on_drone_state, drone_id, queue_size=10
                ),
                rospy.Subscriber(
                    f"/{drone_id}/deliver/feedback",
                    DeliverActionFeedback,
                    self._on_feedback,
                    drone_id,
                    queue_size=20,
                ),
                rospy.Subscriber(
                    f"/{drone_id}/deliver/result",
                    DeliverActionResult,
                    self._on_goal_result,
                    drone_id,
                    queue_size=20,
                ),
            ]
        for locker_id in locker_ids:
            self.subs += [
                rospy.Subscriber(
                    f"/lockers/{locker_id}/state",
                    LockerState,
                    self._on_locker_state,
                    locker_id,
                    queue_size=10,
                ),
                rospy.Subscriber(
                    f"/lockers/{locker_id}/pickups", PickupEvent, self._on_pickup, locker_id, queue_size=50
                ),
            ]
        # -- services
        self.services = [
            rospy.Service("/fleet/submit_delivery", SubmitDelivery, self.submit_delivery),
            rospy.Service("/fleet/cancel_delivery", CancelDelivery, self.cancel_delivery),
            rospy.Service("/fleet/retry_delivery", RetryDelivery, self.retry_delivery),
            rospy.Service("/fleet/get_delivery", GetDelivery, self.get_delivery),
            rospy.Service("/fleet/list_deliveries", ListDeliveries, self.list_deliveries),
            rospy.Service("/fleet/set_paused", SetSitePaused, self.set_paused),
            rospy.Service("/fleet/set_drone_in_service", SetDroneInService, self.set_drone_in_service),
            rospy.Service("/fleet/recall_drone", RecallDrone, self.recall_drone),
            rospy.Service("/fleet/confirm_loaded", ConfirmLoaded, self.confirm_loaded),
        ]
        # -- timers and the dispatcher
        self.timers = [
            rospy.Timer(rospy.Duration(config.tick_period), lambda _e: self.core.tick()),
            rospy.Timer(rospy.Duration(1.0), lambda _e: self._publish_summary()),
            rospy.Timer(rospy.Duration(config.round_period), lambda _e: self.core.dirty.set()),
        ]
        self.dispatcher = threading.Thread(target=self._dispatch_loop, name="fleet-dispatch", daemon=True)
        self.dispatcher.start()
        if self.amqp is not None:
            self.amqp.start()
        self._publish_summary()
        rospy.loginfo(
            "fleet: ready; drones %s, lockers %s, db %s, %d open deliveries resumed, auto_load=%s, amqp=%s, "
            "metrics_port=%s",
            drone_ids,
            locker_ids,
            config.db_path,
            len(resumed),
            config.fleet.lifecycle.auto_load,
            bool(config.amqp_url),
            rospy.get_param("~actual_metrics_port", 0),
        )

    def shutdown(self) -> None:
        """Stop taking work; flights and reservations stay as they are (the store keeps them)."""
        self._shutdown.set()
        self.core.dirty.set()
        for timer in self.timers:
            timer.shutdown()
        if self.amqp is not None:
            self.amqp.stop()
        self.effects.shutdown()
        if self.metrics is not None:
            self.metrics.shutdown()
        self.store.close()

    # ------------------------------------------------------------------------------------------ plumbing
    def _start_metrics(self) -> None:
        from skypost_fleet.metrics import FleetMetrics

        self.metrics = FleetMetrics()
        try:
            port = self.metrics.serve(self.config.metrics_port, self.config.metrics_address)
        except OSError as exc:  # metrics are not worth refusing to dispatch for
            rospy.logerr("fleet: metrics endpoint on port %d failed: %s", self.config.metrics_port, exc)
            self.metrics = None
            return
        rospy.set_param("~actual_metrics_port", port)

    def _dispatch_loop(self) -> None:
        """Assignment rounds, run when something changed (event-driven), coalescing bursts."""
        while not self._shutdown.is_set():
            self.core.dirty.wait(timeout=1.0)
            if self._shutdown.is_set() or rospy.is_shutdown():
                return
            if not self.core.dirty.is_set():
                continue
            try:
                self.core.run_round()
            except Exception:
                rospy.logerr("fleet: assignment round failed", exc_info=True)
                self._shutdown.wait(1.0)

    def _on_result(self, delivery_id: str, event: Any) -> None:
        self.core.on_result(delivery_id, event)

    def _on_transition(self, d: Delivery) -> None:
        if not rospy.is_shutdown():
            self.status_pub.publish(status_msg(d))
        rospy.loginfo("fleet: %s %s (%s)", d.delivery_id, d.state.name, d.reason)
        if self.amqp is not None:
            self.amqp.event(d)
        if self.metrics is not None:
            self.metrics.on_transition(d)

    def _on_drone_state(self, msg: DroneState, drone_id: str) -> None:
        self.last_drone_msg[drone_id] = msg
        self.core.on_drone_report(drone_report(msg, drone_id))

    def _on_locker_state(self, msg: LockerState, locker_id: str) -> None:
        self.last_locker_msg[locker_id] = msg
        self.core.on_locker_report(locker_report(msg, locker_id))

    def _on_feedback(self, msg: DeliverActionFeedback, drone_id: str) -> None:
        fb = msg.feedback
        self.core.on_goal_feedback(drone_id, msg.status.goal_id.id, int(fb.mission_state), float(fb.eta))

    def _on_goal_result(self, msg: DeliverActionResult, drone_id: str) -> None:
        outcome, message = outcome_of(
            msg.status.status, msg.result.outcome, msg.result.parcel_released, msg.result.message
        )
        self.core.on_goal_result(
            drone_id, msg.status.goal_id.id, outcome, bool(msg.result.parcel_released), message
        )

    def _on_pickup(self, msg: PickupEvent, locker_id: str) -> None:
        self.core.on_pickup(locker_id, msg.delivery_id, int(msg.cell_id), bool(msg.success), msg.message)

    def _amqp_submit(self, request: DeliveryRequest) -> tuple[Delivery, bool]:
        return self.core.submit(request)

    # ------------------------------------------------------------------------------------------ services
    @boundary(SubmitDeliveryResponse)
    def submit_delivery(self, req: Any) -> SubmitDeliveryResponse:
        request = DeliveryRequest(
            req.delivery_id,
            req.order_ref,
            req.locker_id,
            req.cell_size,
            int(req.priority),
            float(req.weight_kg),
        )
        d, duplicate = self.core.submit(request)
        message = "already known" if duplicate else "accepted"
        return SubmitDeliveryResponse(
            success=True, message=message, duplicate=duplicate, status=status_msg(d)
        )

    @boundary(CancelDeliveryResponse)
    def cancel_delivery(self, req: Any) -> CancelDeliveryResponse:
        d = self.core.cancel(req.delivery_id, req.reason)
        return CancelDeliveryResponse(success=True, message=d.reason, status=status_msg(d))

    @boundary(RetryDeliveryResponse)
    def retry_delivery(self, req: Any) -> RetryDeliveryResponse:
        d = self.core.retry(req.delivery_id, req.reason)
        return RetryDeliveryResponse(success=True, message=d.reason, status=status_msg(d))

    @boundary(GetDeliveryResponse)
    def get_delivery(self, req: Any) -> GetDeliveryResponse:
        d, history = self.core.get(req.delivery_id)
        return GetDeliveryResponse(
            success=True, message=d.reason, status=status_msg(d), history=[status_msg(h) for h in history]
        )

    @boundary(ListDeliveriesResponse)
    def list_deliveries(self, req: Any) -> ListDeliveriesResponse:
        states = list(req.states) if not isinstance(req.states, bytes) else list(bytearray(req.states))
        valid = {int(s) for s in State}
        bad = [s for s in states if s not in valid]
        if bad:
            raise FleetError(f"unknown states {bad}")
        items = self.core.list(states, int(req.limit))
        return ListDeliveriesResponse(
            success=True, message=f"{len(items)} deliveries", deliveries=[status_msg(d) for d in items]
        )

    @boundary(SetSitePausedResponse)
    def set_paused(self, req: Any) -> SetSitePausedResponse:
        message = self.core.set_paused(bool(req.paused), req.reason)
        self._publish_summary()
        return SetSitePausedResponse(success=True, message=message)

    @boundary(SetDroneInServiceResponse)
    def set_drone_in_service(self, req: Any) -> SetDroneInServiceResponse:
        message = self.core.set_drone_in_service(req.drone_id, bool(req.in_service), req.reason)
        return SetDroneInServiceResponse(success=True, message=message)

    @boundary(RecallDroneResponse)
    def recall_drone(self, req: Any) -> RecallDroneResponse:
        return RecallDroneResponse(success=True, message=self.core.recall_drone(req.drone_id, req.reason))

    @boundary(ConfirmLoadedResponse)
    def confirm_loaded(self, req: Any) -> ConfirmLoadedResponse:
        d = self.core.confirm_loaded(req.delivery_id)
        return ConfirmLoadedResponse(success=True, message=d.reason)

    # ------------------------------------------------------------------------------------------ outputs
    def _publish_summary(self) -> None:
        if rospy.is_shutdown():
            return
        counts = self.core.counts()
        availability = self.core.drone_availability()
        now = rospy.get_time()
        msg = FleetSummary()
        msg.header.stamp = rospy.Time.from_sec(now) if now > 0 else rospy.Time(0)
        msg.paused, msg.pause_reason = self.core.paused, self.core.pause_reason
        status = {"idle": 0, "busy": 0, "offline": 0, "out_of_service": 0, "unavailable": 0}
        for drone_id in self.registry.drones:
            last = self.last_drone_msg.get(drone_id)
            online = self.registry.online(drone_id, now) and last is not None
            state = DroneState() if last is None else _copy_drone(last)
            if not online:
                state = offline_drone_state(drone_id, last)
                status["offline"] += 1
            elif drone_id in self.core.out_of_service:
                status["out_of_service"] += 1
            elif not availability[drone_id]:
                status["idle"] += 1
            elif availability[drone_id].startswith("busy") or last.mission_state != Mission.IDLE:
                status["busy"] += 1
            else:
                status["unavailable"] += 1
            state.in_service = state.in_service and drone_id not in self.core.out_of_service
            msg.drones.append(state)
        msg.drones_total = len(self.registry.drones)
        msg.drones_idle, msg.drones_busy = status["idle"], status["busy"]
        msg.drones_offline, msg.drones_out_of_service = status["offline"], status["out_of_service"]
        msg.deliveries_queued = counts.get(State.QUEUED, 0)
        msg.deliveries_active = sum(n for s, n in counts.items() if s not in TERMINAL and s != State.QUEUED)
        msg.deliveries_completed = counts.get(State.COMPLETED, 0)
        msg.deliveries_failed = counts.get(State.FAILED, 0)
        msg.deliveries_cancelled = counts.get(State.CANCELLED, 0)
        for locker_id in self.registry.lockers:
            usable = not self.registry.locker_unusable_reason(locker_id)
            msg.lockers_online += usable
            msg.lockers_offline += not usable
            if locker_id in self.last_locker_msg:
                msg.lockers.append(self.last_locker_msg[locker_id])
            else:
                msg.lockers.append(
                    LockerState(
                        locker_id=locker_id,
                        mode=LockerState.MODE_UNKNOWN,
                        mode_name="UNKNOWN",
                        message="no state received",
                    )
                )
        self.summary_pub.publish(msg)
        self._publish_diagnostics(msg, availability)
        if self.metrics is not None:
            self.metrics.on_summary(msg.deliveries_queued, msg.deliveries_active, status)

    def _publish_diagnostics(self, summary: FleetSummary, availability: dict[str, str]) -> None:
        array = DiagnosticArray()
        array.header.stamp = summary.header.stamp
        fleet = DiagnosticStatus(name="skypost fleet: manager", hardware_id="fleet")
        fleet.level = DiagnosticStatus.WARN if summary.paused else DiagnosticStatus.OK
        fleet.message = f"paused: {summary.pause_reason}" if summary.paused else "dispatching"
        fleet.values = [
            KeyValue(k, str(v))
            for k, v in (
                ("queued", summary.deliveries_queued),
                ("active", summary.deliveries_active),
                ("completed", summary.deliveries_completed),
                ("failed", summary.deliveries_failed),
                ("drones idle", summary.drones_idle),
                ("drones offline", summary.drones_offline),
                ("executor backlog", self.effects.executor.pending()),
                ("amqp connected", self.amqp.connected.is_set() if self.amqp else "disabled"),
            )
        ]
        array.status.append(fleet)
        for state in summary.drones:
            why = availability.get(state.drone_id, "")
            item = DiagnosticStatus(
                name=f"skypost fleet: drone {state.drone_id}", hardware_id=state.drone_id
            )
            if state.mission_state == Mission.OFFLINE:
                item.level, item.message = DiagnosticStatus.ERROR, "offline"
            elif not state.battery_known:
                item.level, item.message = DiagnosticStatus.WARN, "battery unknown"
            else:
                item.level, item.message = DiagnosticStatus.OK, why or "idle"
            battery = state.battery_percentage
            item.values = [
                KeyValue("mission", state.mission_state_name),
                KeyValue("battery", "unknown" if math.isnan(battery) else f"{battery:.0%}"),
            ]
            array.status.append(item)
        self.diag_pub.publish(array)


def _wait_for_clock(log_every: float = 10.0) -> None:
    """Under /use_sim_time, ROS time is 0 until the first /clock message."""
    waited = 0.0
    while rospy.get_time() == 0.0 and not rospy.is_shutdown():
        if waited % log_every < 0.1:
            rospy.loginfo("fleet: waiting for /clock (use_sim_time)")
        rospy.rostime.wallsleep(0.1)
        waited += 0.1


def _copy_drone(msg: DroneState) -> DroneState:
    out = DroneState()
    for slot in msg.__slots__:
        setattr(out, slot, getattr(msg, slot))
    return out
