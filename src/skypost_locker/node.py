"""The locker node: ROS wiring around LockerCore (cells, reservations, lock commands), the rosserial host of the
locker controller, and the QR pickup pipeline. Topics and services are relative to the node's namespace
(/lockers/<locker_id>)."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import rospy
from cv_bridge import CvBridge, CvBridgeError
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from sensor_msgs.msg import Image
from skypost.msg import CellState, LockerCommand, LockerHardwareState, LockerState, PickupEvent
from skypost.srv import (
    CloseCell,
    CloseCellResponse,
    OpenCell,
    OpenCellResponse,
    ReleaseCell,
    ReleaseCellResponse,
    ReserveCell,
    ReserveCellResponse,
    ValidatePickup,
    ValidatePickupRequest,
)
from std_msgs.msg import String

from .commands import Outcome
from .config import LockerConfig
from .core import LockerCore, LockerSnapshot, Mode, Request
from .hardware import Command, HardwareState
from .inventory import LockerError
from .pickup import CodeGate, PickupFlow, PickupResult, PickupTimeouts, Screen, Validation, Verdict
from .qr import QrReader
from .rosserial.host import HostConfig, RosserialHost

COMMAND_TOPIC = "device/command"  # the controller's names for its topics (relative: in this namespace)
STATE_TOPIC = "device/state"
HOUSEKEEPING_PERIOD = 0.1         # s (wall): command resends and timeouts, controller staleness


def hardware_from_msg(msg: LockerHardwareState) -> HardwareState:
    return HardwareState(msg.cell_count, msg.locked, msg.door_closed, msg.occupied, msg.fault,
                         msg.last_command_seq, msg.last_command_result, msg.uptime_ms)


def state_msg(snapshot: LockerSnapshot, config: LockerConfig) -> LockerState:
    msg = LockerState(locker_id=snapshot.locker_id, mode=int(snapshot.mode), mode_name=snapshot.mode.name,
                      marker_id=config.marker_id, free_cells=snapshot.free_cells, message=snapshot.message)
    msg.header.stamp = rospy.Time.now()
    msg.position.x, msg.position.y, msg.position.z = config.position
    for cell in snapshot.cells:
        msg.cells.append(CellState(
            cell_id=cell.cell_id, size=cell.size, locked=cell.locked, door_closed=cell.door_closed,
            occupancy=int(cell.occupancy), reserved=cell.reserved, reservation_id=cell.reservation_id,
            reservation_expires=rospy.Time.from_sec(cell.reservation_expires), fault=cell.fault,
            fault_reason=cell.fault_reason))
    return msg


class LockerNode:
    def __init__(self, config: LockerConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every device state, sync change, timeout
        self.core = LockerCore(config.locker_id, config.cells, config.reservation_ttl, config.command_timeout,
                               config.command_retry)
        self.link_synced = not config.port  # with a separate serial_node only the state's freshness tells
        self.last_state_wall = 0.0
        self.gate = CodeGate(config.code_limit, config.code_window, config.code_forget)
        self.pickup_active = False
        self._last_frame_wall = 0.0
        self._display = ""
        self._display_until = 0.0
        self._published: LockerSnapshot | None = None
        self._stopping = threading.Event()
        self._calls = ThreadPoolExecutor(max_workers=2, thread_name_prefix="validate")
        self.qr = QrReader()
        self.bridge = CvBridge()

        # service clients
        self.validate_proxy = rospy.ServiceProxy(config.validate_service, ValidatePickup)
        # subscribers
        rospy.Subscriber(STATE_TOPIC, LockerHardwareState, self._on_device_state, queue_size=20)
        if config.camera:
            rospy.Subscriber("camera/image_raw", Image, self._on_image, queue_size=1, buff_size=2 ** 22)
        # publishers
        self.state_pub = rospy.Publisher("state", LockerState, queue_size=10, latch=True)
        self.command_pub = rospy.Publisher(COMMAND_TOPIC, LockerCommand, queue_size=20)
        self.display_pub = rospy.Publisher("display", String, queue_size=10, latch=True)
        self.pickup_pub = rospy.Publisher("pickups", PickupEvent, queue_size=20)
        self.diag_pub = rospy.Publisher("/diagnostics", DiagnosticArray, queue_size=10)
        # service servers
        rospy.Service("reserve_cell", ReserveCell, self._reserve)
        rospy.Service("release_cell", ReleaseCell, self._release)
        rospy.Service("open_cell", OpenCell, self._open)
        rospy.Service("close_cell", CloseCell, self._close)
        # the controller link (embedded rosserial host) and timers
        self.host: RosserialHost | None = None
        if config.port:
            self.host = RosserialHost(HostConfig(config.port, config.baud, config.sync_timeout),
                                      on_sync_change=self._on_sync)
            self.host.start()
        self._housekeeper = threading.Thread(target=self._housekeeping, name="locker-housekeeping", daemon=True)
        self._housekeeper.start()
        rospy.Timer(rospy.Duration(1.0 / config.state_rate), self._on_timer)
        self.show(Screen.OFFLINE)
        self.publish_state(force=True)
        rospy.loginfo("locker %s ready: %d cells %s, controller %s, camera %s, config %s", config.locker_id,
                      len(config.cells), "".join(config.cells), config.port or "via a separate serial_node",
                      "on" if config.camera else "off", config)

    # ---------------------------------------------------------------------------------------- controller

    def _on_sync(self, synced: bool) -> None:
        with self.lock:
            self.link_synced = synced
            if not synced:
                self._finish(self.core.set_device_online(False, "controller out of sync (rosserial)"))
            self.changed.notify_all()
        self.publish_state()

    def _on_device_state(self, msg: LockerHardwareState) -> None:
        with self.lock:
            self.last_state_wall = time.monotonic()
            if not self.link_synced:
                return
            if not self.core.synced:
                self.core.set_device_online(True)
                rospy.loginfo("locker %s: controller online (%d cells, uptime %.1f s)", self.config.locker_id,
                              msg.cell_count, msg.uptime_ms / 1000.0)
                if msg.cell_count != len(self.config.cells):
                    rospy.logwarn("locker %s: the controller has %d cells, the configuration %d",
                                  self.config.locker_id, msg.cell_count, len(self.config.cells))
            self._finish(self.core.on_hardware(hardware_from_msg(msg)))
            self.changed.notify_all()
        self.publish_state()

    def _housekeeping(self) -> None:
        """Wall-clock duties, independent of ROS (sim) time: command resends and timeouts, controller staleness."""
        while not self._stopping.wait(HOUSEKEEPING_PERIOD):
            with self.lock:
                now = time.monotonic()
                if self.core.synced and now - self.last_state_wall > self.config.device_timeout:
                    self._finish(self.core.set_device_online(
                        False, f"no state from the controller for {self.config.device_timeout:.1f} s"))
                    self.changed.notify_all()
                failed = self.core.tick_commands(now)
                self._finish(failed)
                self._send_outbox()
                self.changed.notify_all()  # waiters re-check (a superseded command finishes without a state)
            self.publish_state()  # only when something changed (staleness, failed commands)

    def _finish(self, finished: list) -> None:
        for pending in finished:
            if pending.outcome is not None and not pending.outcome.success:
                rospy.logwarn("locker %s: %s", self.config.locker_id, pending.outcome.message)

    def _send_outbox(self) -> None:
        for command in self.core.take_outbox():
            self._send(command)

    def _send(self, command: Command) -> None:
        msg = LockerCommand(seq=command.seq, cell_id=command.cell_id, command=int(command.action))
        if self.host is not None:
            if not self.host.send(COMMAND_TOPIC, msg):
                rospy.logwarn_throttle(5.0, "locker %s: command %s not sent (controller not in sync)",
                                       self.config.locker_id, command)
        else:
            self.command_pub.publish(msg)

    def _await(self, request: Request, timeout: float | None = None) -> Outcome:
        """Sends what the request queued and waits (wall clock) for the controller to confirm it; the housekeeping
        thread fails it after command_timeout, `timeout` only guards against that thread being gone."""
        with self.changed:
            self._send_outbox()
            if isinstance(request, Outcome):
                return request
            limit = self.config.command_timeout + 1.0 if timeout is None else timeout
            self.changed.wait_for(lambda: request.done, timeout=limit)
            return request.outcome or Outcome(False, "no confirmation from the controller")

    # ---------------------------------------------------------------------------------------- services

    def _reserve(self, req) -> ReserveCellResponse:
        try:
            with self.lock:
                reservation, what = self.core.reserve(req.reservation_id, req.size, int(req.cell_id),
                                                      float(req.ttl), self._ros_now())
        except LockerError as exc:
            return self._refuse(ReserveCellResponse, "reserve_cell", req.reservation_id, exc)
        rospy.loginfo("locker %s: %s cell %d for %s", self.config.locker_id, what, reservation.cell_id,
                      req.reservation_id)
        self.publish_state()
        return ReserveCellResponse(success=True, message=what, cell_id=reservation.cell_id,
                                   expires=rospy.Time.from_sec(0.0 if reservation.held else reservation.expires))

    def _release(self, req) -> ReleaseCellResponse:
        try:
            with self.lock:
                what = self.core.release(req.reservation_id)
        except LockerError as exc:
            return self._refuse(ReleaseCellResponse, "release_cell", req.reservation_id, exc)
        rospy.loginfo("locker %s: release %s: %s", self.config.locker_id, req.reservation_id, what)
        self.publish_state()
        return ReleaseCellResponse(success=True, message=what)

    def _open(self, req) -> OpenCellResponse:
        context = f"{req.reservation_id or 'maintenance'} cell {req.cell_id}"
        try:
            with self.lock:
                request = self.core.open_cell(int(req.cell_id), req.reservation_id, bool(req.maintenance),
                                              self._ros_now(), time.monotonic())
        except LockerError as exc:
            return self._refuse(OpenCellResponse, "open_cell", context, exc)
        if req.maintenance:
            rospy.logwarn("locker %s: maintenance open of cell %d (%s)", self.config.locker_id, req.cell_id,
                          req.reason or "no reason given")
        outcome = self._await(request)
        self.publish_state()
        return self._answer(OpenCellResponse, "open_cell", context, outcome)

    def _close(self, req) -> CloseCellResponse:
        try:
            with self.lock:
                request = self.core.close_cell(int(req.cell_id), time.monotonic())
        except LockerError as exc:
            return self._refuse(CloseCellResponse, "close_cell", f"cell {req.cell_id}", exc)
        outcome = self._await(request)
        self.publish_state()
        return self._answer(CloseCellResponse, "close_cell", f"cell {req.cell_id}", outcome)

    def _refuse(self, response_type, what: str, context: str, exc: Exception):
        rospy.logwarn("locker %s: %s (%s) refused: %s", self.config.locker_id, what, context, exc)
        return response_type(success=False, message=str(exc))

    def _answer(self, response_type, what: str, context: str, outcome: Outcome):
        log = rospy.loginfo if outcome.success else rospy.logerr
        log("locker %s: %s (%s): %s", self.config.locker_id, what, context, outcome.message)
        return response_type(success=outcome.success, message=outcome.message)

    # ---------------------------------------------------------------------------------------- state

    def publish_state(self, force: bool = False) -> None:
        with self.lock:
            snapshot = self.core.snapshot()
            if not force and snapshot == self._published:
                return
            self._published = snapshot
            self.state_pub.publish(state_msg(snapshot, self.config))
            if snapshot.mode == Mode.OFFLINE and self._display != Screen.OFFLINE and not self.pickup_active:
                self.show(Screen.OFFLINE, hold=False)
            elif snapshot.mode != Mode.OFFLINE and self._display == Screen.OFFLINE:
                self.show(Screen.IDLE, hold=False)

    def _on_timer(self, _event) -> None:
        with self.lock:
            expired = self.core.expire_reservations(self._ros_now())
            for reservation in expired:
                rospy.loginfo("locker %s: reservation %s of cell %d expired", self.config.locker_id,
                              reservation.reservation_id, reservation.cell_id)
            if self._display_until and self._ros_now() >= self._display_until and not self.pickup_active:
                self.show(Screen.OFFLINE if self.core.mode() == Mode.OFFLINE else Screen.IDLE, hold=False)
        self.publish_state(force=True)
        self.diag_pub.publish(self._diagnostics())

    def _diagnostics(self) -> DiagnosticArray:
        with self.lock:
            snapshot = self.core.snapshot()
            hw = self.core.hardware
        status = DiagnosticStatus(name=f"locker {self.config.locker_id}: controller",
                                  hardware_id=self.config.port or "serial_node")
        faults = [f"{c.cell_id}: {c.fault_reason}" for c in snapshot.cells if c.fault]
        if snapshot.mode == Mode.OFFLINE:
            status.level, status.message = DiagnosticStatus.ERROR, snapshot.message
        elif faults:
            status.level, status.message = DiagnosticStatus.WARN, "cell faults: " + "; ".join(faults)
        else:
            status.level, status.message = DiagnosticStatus.OK, snapshot.mode.name.lower()
        values = {"mode": snapshot.mode.name, "free_cells": snapshot.free_cells,
                  "controller_cells": hw.cell_count if hw else "unknown",
                  "controller_uptime_s": f"{hw.uptime_ms / 1000.0:.1f}" if hw else "unknown"}
        if self.host is not None:
            session, link = self.host.session.stats, self.host.link.stats
            values.update(port=self.host.port, synced=self.host.synced, frames_in=session.frames_in,
                          frames_out=session.frames_out, sync_losses=session.sync_losses,
                          time_requests=session.time_requests, reconnects=link.connects,
                          bytes_dropped=sum(link.rejected.values()))
        status.values = [KeyValue(key, str(value)) for key, value in values.items()]
        msg = DiagnosticArray(status=[status])
        msg.header.stamp = rospy.Time.now()
        return msg

    def show(self, text: str, hold: bool = True) -> None:
        with self.lock:
            self._display = text
            self._display_until = self._ros_now() + self.config.display_hold if hold else 0.0
        self.display_pub.publish(String(data=text))

    @staticmethod
    def _ros_now() -> float:
        return rospy.Time.now().to_sec()

    # ---------------------------------------------------------------------------------------- QR pickup

    def _on_image(self, msg: Image) -> None:
        now = time.monotonic()
        if now - self._last_frame_wall < 1.0 / self.config.qr_rate:
            return  # decoding costs CPU; a customer holds a code up for seconds
        self._last_frame_wall = now
        try:
            image = self.bridge.imgmsg_to_cv2(msg, desired_encoding="mono8")
        except CvBridgeError as exc:
            rospy.logwarn_throttle(10.0, "locker %s: camera frame not usable: %s", self.config.locker_id, exc)
            return
        code = self.qr.decode(image)
        if not code:
            return
        with self.lock:
            verdict = self.gate.offer(code, self._ros_now(), busy=self.pickup_active)
            if verdict == Verdict.SEND:
                self.pickup_active = True
        if verdict == Verdict.RATE_LIMITED:
            self.show("Too many attempts: please wait a minute")
        elif verdict == Verdict.SEND:
            threading.Thread(target=self._pickup, args=(code,), name="pickup", daemon=True).start()

    def _pickup(self, code: str) -> None:
        try:
            timeouts = PickupTimeouts(self.config.door_open_timeout, self.config.door_close_timeout)
            result = PickupFlow(self, timeouts).run(code)
        except Exception as exc:  # the boundary of a pickup: log it, tell the customer, free the locker
            rospy.logerr("locker %s: pickup failed unexpectedly: %s", self.config.locker_id, exc)
            self.show(Screen.refused("please contact staff"))
            result = PickupResult(False, f"internal error: {exc}")
        finally:
            with self.lock:
                self.pickup_active = False
        log = rospy.loginfo if result.success else rospy.logwarn
        log("locker %s: pickup of %s (cell %d): %s", self.config.locker_id, result.delivery_id or "?",
            result.cell_id, result.message)
        event = PickupEvent(locker_id=self.config.locker_id, delivery_id=result.delivery_id,
                            cell_id=result.cell_id, success=result.success, message=result.message)
        event.header.stamp = rospy.Time.now()
        self.pickup_pub.publish(event)
        self.publish_state()

    # PickupPort, for PickupFlow
    def validate(self, code: str) -> Validation:
        request = ValidatePickupRequest(locker_id=self.config.locker_id, code=code)
        future = self._calls.submit(self.validate_proxy.call, request)
        try:
            response = future.result(timeout=self.config.validate_timeout)
        except FutureTimeout:
            raise TimeoutError(f"{self.config.validate_service} did not answer within "
                               f"{self.config.validate_timeout:.1f} s") from None
        except (rospy.ServiceException, rospy.ROSException) as exc:
            raise OSError(f"{self.config.validate_service}: {exc}") from exc
        return Validation(response.success, response.message, response.delivery_id, int(response.cell_id))

    def open(self, delivery_id: str, cell_id: int) -> tuple[bool, str]:
        try:
            with self.lock:
                request = self.core.open_for_pickup(delivery_id, cell_id, time.monotonic())
        except LockerError as exc:
            return False, str(exc)
        outcome = self._await(request)
        self.publish_state()
        return outcome.success, outcome.message

    def wait_door(self, cell_id: int, closed: bool, timeout: float) -> bool:
        # Wall clock: the customer and the hatches live in real time, also when the site runs on sim time.
        deadline = time.monotonic() + timeout

        def door_is() -> bool:
            hw = self.core.hardware
            return hw is not None and self.core.online and hw.has(cell_id) and hw.is_door_closed(cell_id) == closed

        with self.changed:
            while not door_is():
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return False
                self.changed.wait(min(remaining, 0.1))
        return True

    def close(self, cell_id: int) -> tuple[bool, str]:
        try:
            with self.lock:
                request = self.core.close_cell(cell_id, time.monotonic())
        except LockerError as exc:
            return False, str(exc)
        outcome = self._await(request)
        self.publish_state()
        return outcome.success, outcome.message

    def finish(self, delivery_id: str, cell_id: int) -> tuple[bool, str]:
        with self.lock:
            outcome = self.core.finish_pickup(delivery_id, cell_id)
        return outcome.success, outcome.message

    # ---------------------------------------------------------------------------------------- shutdown

    def shutdown(self) -> None:
        """Leaves the hardware safe: every cell locked (best effort, briefly), then tx stop and the port closed."""
        self._stopping.set()
        try:
            with self.lock:
                request = self.core.lock_all(time.monotonic())
            outcome = self._await(request, timeout=1.0)
            rospy.loginfo("locker %s: shutdown: %s", self.config.locker_id, outcome.message)
        except LockerError as exc:
            rospy.logwarn("locker %s: shutdown: cells not locked: %s", self.config.locker_id, exc)
        if self.host is not None:
            self.host.shutdown()
        self._calls.shutdown(wait=False, cancel_futures=True)
