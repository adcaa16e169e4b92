"""Runs a scenario against a running simulated site (ROS): submits the planned orders on time, plays the customers
(the web app's pickup-code check plus the locker simulation's customer), injects the faults, shows progress, ends
every order in a terminal state and collects what report.py needs. scripts/scenario.py starts the site and this.

Customers: when a delivery reaches AWAITING_PICKUP its customer shows up after a random delay (sim time) at the
locker, one customer at a time per locker and never while a drone is over its pad: the code goes to
`/lockers/<id>/sim/customer_arrive`, the locker node decodes the QR and asks `/skypost/validate_pickup`, which this
runner serves as the stand-in for the web app (the code of each delivery is known only here). A failed pickup is
tried again a few times; a locker where `pickup_tries` pickups in a row failed counts as not serving pickups (staff
would be called): the parcels still in it are cancelled when nothing else can happen.
"""
from __future__ import annotations

import math
import random
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import rosnode
import rospy
from skypost.msg import CellState, DeliveryStatus, FleetSummary, LockerState, PickupEvent
from skypost.srv import (
    CancelDelivery,
    InjectFault,
    SubmitDelivery,
    ValidatePickup,
    ValidatePickupResponse,
)
from std_msgs.msg import String

from .recording import connected, recorder_command
from .report import TERMINAL, DroneSample, StatusEvent, phase_counts
from .scenario_plan import FOREVER, FaultSpec, PlannedOrder, pick_drone, pickup_delay

SERVICE_TIMEOUT = 30.0        # s (wall) for each fleet / sim service call on a loaded machine
VALIDATE_SERVICE = "/skypost/validate_pickup"


@dataclass(frozen=True)
class RunnerConfig:
    drones: tuple[str, ...]
    lockers: tuple[str, ...]
    seed: int = 1
    pickup_mean: float = 120.0     # sim s from the parcel in its cell to the customer at the locker
    pickup_retry: float = 30.0     # sim s before a customer tries again after a failed pickup
    pickup_tries: int = 3
    customer_timeout: float = 60.0  # s (wall) one pickup attempt may take before it counts as failed
    timeout: float = 3600.0        # s (wall) for the whole run; then every open order is cancelled
    stall: float = 900.0           # sim s without any transition (and no customer busy) before the rest is cancelled
    offline_grace: float = 30.0    # s (wall) a locker must stay OFFLINE before its parcels count as unreachable
    pad_clearance: float = 20.0    # sim s before a drone's expected arrival at a locker when no customer starts there
    progress_period: float = 5.0   # s (wall) between progress lines
    record_topics: tuple[str, ...] = ()
    record_path: Path | None = None


@dataclass
class Customer:
    delivery_id: str
    locker_id: str
    due: float                     # sim s
    tries: int = 0
    started_wall: float = 0.0      # while at the locker
    gave_up: bool = False
    collected: bool = False        # took the parcel: never comes back, even while the fleet still says AWAITING


@dataclass
class Collected:
    """What the report is made of."""

    submitted: dict[str, float] = field(default_factory=dict)   # sim s
    events: list[StatusEvent] = field(default_factory=list)
    samples: list[DroneSample] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    start_sim: float = 0.0
    end_sim: float = 0.0
    start_wall: float = 0.0
    end_wall: float = 0.0


class ScenarioRunner:
    def __init__(self, config: RunnerConfig, orders: list[PlannedOrder], faults: list[FaultSpec],
                 log: Callable[[str], None] = print) -> None:
        self.config = config
        self.orders = sorted(orders, key=lambda o: o.at)
        self.pending_faults = sorted(faults, key=lambda f: f.at)
        self.log = log
        self.rng = random.Random(config.seed + 7919)  # customers and fault targets: apart from the order plan
        self.lock = threading.RLock()
        self.data = Collected()
        self.latest: dict[str, DeliveryStatus] = {}
        self.codes: dict[str, str] = {}               # pickup code -> delivery id
        self.customers: dict[str, Customer] = {}      # delivery id -> its customer
        self.at_locker: dict[str, Customer] = {}      # locker id -> the customer there now
        self.locker_failures: dict[str, int] = {}     # locker id -> pickups failed in a row there
        self.offline_since: dict[str, float] = {}     # locker id -> wall time it was first seen OFFLINE
        self.stopped_lockers: set[str] = set()        # lockers a locker_offline fault stopped
        self.summary: FleetSummary | None = None
        self.locker_states: dict[str, LockerState] = {}
        self.last_event_sim = 0.0
        self.recorder: subprocess.Popen | None = None
        self._next = 0
        # service clients
        self.submit = rospy.ServiceProxy("/fleet/submit_delivery", SubmitDelivery)
        self.cancel = rospy.ServiceProxy("/fleet/cancel_delivery", CancelDelivery)
        self.inject = rospy.ServiceProxy("/sim/inject_fault", InjectFault)
        # subscribers
        rospy.Subscriber("/fleet/delivery_status", DeliveryStatus, self._on_status, queue_size=1000)
        rospy.Subscriber("/fleet/summary", FleetSummary, self._on_summary, queue_size=5)
        for locker in config.lockers:
            rospy.Subscriber(f"/lockers/{locker}/pickups", PickupEvent, self._on_pickup, queue_size=50)
            rospy.Subscriber(f"/lockers/{locker}/sim/events", String, self._on_locker_event, callback_args=locker,
                             queue_size=50)
        # publishers
        self.customer_pubs = {locker: rospy.Publisher(f"/lockers/{locker}/sim/customer_arrive", String,
                                                      queue_size=10) for locker in config.lockers}
        # service servers
        self.validate_server = None
        if _service_exists(VALIDATE_SERVICE):
            self.data.notes.append(f"{VALIDATE_SERVICE} was already served (the web app?): customers' codes were "
                                   "checked there, not by the scenario")
        else:
            self.validate_server = rospy.Service(VALIDATE_SERVICE, ValidatePickup, self._validate)

    # ------------------------------------------------------------------------------------------ ROS callbacks

    def _on_status(self, msg: DeliveryStatus) -> None:
        event = StatusEvent(msg.delivery_id, msg.state_name, msg.header.stamp.to_sec(), msg.reason, msg.drone_id,
                            msg.locker_id, int(msg.attempts), msg.created.to_sec() or math.nan)
        with self.lock:
            self.data.events.append(event)
            self.latest[msg.delivery_id] = msg
            self.last_event_sim = max(self.last_event_sim, event.stamp)
            if msg.state == DeliveryStatus.AWAITING_PICKUP and msg.delivery_id not in self.customers:
                due = event.stamp + pickup_delay(self.rng, self.config.pickup_mean)
                self.customers[msg.delivery_id] = Customer(msg.delivery_id, msg.locker_id, due)
            if msg.state_name in TERMINAL:
                customer = self.at_locker.get(msg.locker_id)
                if customer is not None and customer.delivery_id == msg.delivery_id:
                    del self.at_locker[msg.locker_id]

    def _on_summary(self, msg: FleetSummary) -> None:
        stamp = msg.header.stamp.to_sec()
        with self.lock:
            self.summary = msg
            self.locker_states = {locker.locker_id: locker for locker in msg.lockers}
            wall = time.monotonic()
            for locker_id in self.config.lockers:
                if self._locker_online(locker_id):
                    self.offline_since.pop(locker_id, None)
                else:
                    self.offline_since.setdefault(locker_id, wall)
            for drone in msg.drones:
                battery = float(drone.battery_percentage) if drone.battery_known else math.nan
                self.data.samples.append(DroneSample(stamp, drone.drone_id, battery, drone.mission_state_name))

    def _on_pickup(self, msg: PickupEvent) -> None:
        with self.lock:
            customer = self.at_locker.get(msg.locker_id)
            if customer is None or (msg.delivery_id and msg.delivery_id != customer.delivery_id):
                return
            del self.at_locker[msg.locker_id]
            if msg.success:
                customer.collected = True
                self.locker_failures[msg.locker_id] = 0
            else:
                self._retry(customer, f"pickup refused: {msg.message}")

    def _on_locker_event(self, msg: String, locker: str) -> None:
        if "gave up" not in msg.data:
            return
        with self.lock:
            customer = self.at_locker.pop(locker, None)
            if customer is not None:
                self._retry(customer, "the locker never opened a cell for the customer")

    def _validate(self, req) -> ValidatePickupResponse:
        with self.lock:
            delivery_id = self.codes.get(req.code.strip())
            status = self.latest.get(delivery_id or "")
        if status is None:
            return ValidatePickupResponse(success=False, message="unknown code")
        if status.locker_id != req.locker_id:
            return ValidatePickupResponse(success=False, message=f"this parcel is at {status.locker_id}")
        if status.state != DeliveryStatus.AWAITING_PICKUP:
            return ValidatePickupResponse(success=False, message=f"parcel is {status.state_name.lower()}")
        return ValidatePickupResponse(success=True, message="ok", delivery_id=status.delivery_id,
                                      cell_id=status.cell_id)

    def _retry(self, customer: Customer, why: str) -> None:
        customer.tries += 1
        failures = self.locker_failures.get(customer.locker_id, 0) + 1
        self.locker_failures[customer.locker_id] = failures
        if failures == self.config.pickup_tries:
            self.data.notes.append(f"{customer.locker_id}: {failures} pickups in a row failed (last: "
                                   f"{customer.delivery_id}: {why}): it no longer counts as serving pickups")
            self.log(f"  {customer.locker_id}: {failures} pickups in a row failed, last: {why}")
        if customer.tries >= self.config.pickup_tries:
            customer.gave_up = True
            self.data.notes.append(f"{customer.delivery_id}: customer gave up after {customer.tries} tries ({why})")
        else:
            customer.due = rospy.get_time() + self.config.pickup_retry

    # ------------------------------------------------------------------------------------------ the run

    def wait_site_ready(self, timeout: float, alive: Callable[[], bool]) -> None:
        """Every drone idle and every locker online in /fleet/summary (wall-clock timeout)."""
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        last = ""
        while True:
            with self.lock:
                s = self.summary
            if s is not None:
                last = (f"{s.drones_idle}/{len(self.config.drones)} drones idle, {s.lockers_online}/"
                        f"{len(self.config.lockers)} lockers online")
                if s.drones_idle >= len(self.config.drones) and s.lockers_online >= len(self.config.lockers):
                    return
            if not alive():
                raise RuntimeError(f"the site stopped while starting ({last or 'no /fleet/summary yet'})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"site not ready after {timeout:.0f}s: {last or 'no /fleet/summary yet'}")
            pause.wait(0.5)

    def start_recording(self, env: dict[str, str]) -> None:
        path = self.config.record_path
        if path is None:
            return
        cmd = recorder_command(path, self.config.record_topics, "scenario_recorder")
        self.recorder = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        # the first orders' transitions belong in the bag: start only once the fleet is connected to the recorder
        deadline = time.monotonic() + SERVICE_TIMEOUT
        pause = threading.Event()
        while not connected("/fleet_manager", "/fleet/delivery_status", "/scenario_recorder"):
            if self.recorder.poll() is not None or time.monotonic() > deadline:
                self.data.notes.append("the recording may miss the first transitions: the recorder did not "
                                       f"connect to the fleet within {SERVICE_TIMEOUT:.0f} s")
                break
            pause.wait(0.2)
        self.log(f"recording {len(self.config.record_topics)} topics into {path}")

    def stop_recording(self) -> None:
        if self.recorder is None:
            return
        import os
        import signal

        for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 5)):
            if self.recorder.poll() is not None:
                break
            try:
                os.killpg(self.recorder.pid, sig)
                self.recorder.wait(wait)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue

    def run(self, alive: Callable[[], bool]) -> Collected:
        """Submits, plays customers and faults until every order is terminal (or the run is drained)."""
        c = self.config
        self.data.start_sim = rospy.get_time()
        self.data.start_wall = time.monotonic()
        self.last_event_sim = self.data.start_sim
        pause = threading.Event()
        next_progress = 0.0
        while alive():
            now = rospy.get_time()
            self._submit_due(now)
            self._fire_faults(now)
            self._serve_customers(now)
            wall = time.monotonic()
            if wall >= next_progress:
                self.log(self.progress_line(now, wall))
                next_progress = wall + c.progress_period
            if self._all_terminal():
                break
            why = self._drain_reason(now, wall)
            if why:
                self._cancel_open(why)
                break
            pause.wait(0.2)
        else:
            self.data.notes.append("the site stopped before the scenario ended")
        self.data.end_sim = rospy.get_time()
        self.data.end_wall = time.monotonic()
        self.log(self.progress_line(self.data.end_sim, self.data.end_wall))
        return self.data

    def progress_line(self, now: float, wall: float) -> str:
        with self.lock:
            counts = phase_counts(s.state_name for s in self.latest.values())
            summary = self.summary
        sim = now - self.data.start_sim
        elapsed = wall - self.data.start_wall
        factor = f" (x{sim / elapsed:.1f})" if elapsed > 1 else ""
        busy = (f" | drones busy {summary.drones_busy}/{summary.drones_total}, lockers online "
                f"{summary.lockers_online}/{summary.lockers_online + summary.lockers_offline}") if summary else ""
        return (f"[wall {elapsed:6.0f}s] sim {sim:7.1f}s{factor} | submitted {len(self.data.submitted)}/"
                f"{len(self.orders)} | queued {counts['queued']} active {counts['active']} awaiting_pickup "
                f"{counts['awaiting_pickup']} completed {counts['completed']} failed {counts['failed']} cancelled "
                f"{counts['cancelled']}{busy}")

    def _submit_due(self, now: float) -> None:
        while self._next < len(self.orders) and self.orders[self._next].at <= now - self.data.start_sim:
            order = self.orders[self._next]
            self._next += 1
            try:
                rospy.wait_for_service("/fleet/submit_delivery", timeout=SERVICE_TIMEOUT)
                answer = self.submit(delivery_id=order.delivery_id, order_ref=f"scenario order {order.delivery_id}",
                                     locker_id=order.locker_id, cell_size=order.cell_size, priority=order.priority,
                                     weight_kg=order.weight_kg)
            except (rospy.ServiceException, rospy.ROSException) as exc:
                self.data.notes.append(f"{order.delivery_id}: submit failed: {exc}")
                self.log(f"  order {order.delivery_id} NOT submitted: {exc}")
                continue
            if not answer.success:
                self.data.notes.append(f"{order.delivery_id}: refused by the fleet: {answer.message}")
                self.log(f"  order {order.delivery_id} refused: {answer.message}")
                continue
            with self.lock:
                self.data.submitted[order.delivery_id] = now
                self.codes[f"SKY-{order.delivery_id}-{secrets.token_hex(4)}"] = order.delivery_id

    def _busy_drones(self) -> list[str]:
        with self.lock:
            drones = self.summary.drones if self.summary else []
        return [d.drone_id for d in drones if d.mission_state_name not in ("IDLE", "OFFLINE")]

    def _fire_faults(self, now: float) -> None:
        while self.pending_faults and self.pending_faults[0].at <= now - self.data.start_sim:
            fault = self.pending_faults.pop(0)
            at = now - self.data.start_sim
            try:
                what = self._apply_fault(fault)
            except (rospy.ServiceException, rospy.ROSException, OSError, ValueError) as exc:
                what = f"NOT applied: {exc}"
            line = f"{at:.0f} s: {fault.kind}: {what}"
            self.data.faults.append(line)
            self.log(f"  fault {line}")

    def _apply_fault(self, fault: FaultSpec) -> str:
        if fault.kind == "locker_offline":
            locker = fault.target or self.rng.choice(sorted(self.config.lockers))
            node = f"/lockers/{locker}/locker_sim"
            if node not in rosnode.get_node_names():
                return f"{locker}: no {node} node to stop (not a simulated locker?)"
            killed, failed = rosnode.kill_nodes([node])
            if failed or not killed:
                raise OSError(f"could not stop {node}")
            with self.lock:
                self.stopped_lockers.add(locker)
            return f"{locker}: its simulated controller board ({node}) was stopped"
        rospy.wait_for_service("/sim/inject_fault", timeout=SERVICE_TIMEOUT)
        if fault.kind == "wind":
            answers = [self.inject(drone_id=d, fault="wind", value=fault.value) for d in self.config.drones]
            refused = [a.message for a in answers if not a.success]
            return f"{fault.value:g} m/s on every drone" + (f" (refused: {'; '.join(refused)})" if refused else "")
        drone = fault.target or pick_drone(self.rng, self.config.drones, self._busy_drones())
        name, value = ("battery_sag", fault.value) if fault.kind == "battery_sag" else ("telemetry_stop", FOREVER)
        answer = self.inject(drone_id=drone, fault=name, value=value)
        if not answer.success:
            raise ValueError(answer.message)
        return f"{drone}: {answer.message}"

    def _serve_customers(self, now: float) -> None:
        wall = time.monotonic()
        with self.lock:
            for locker, customer in list(self.at_locker.items()):
                if wall - customer.started_wall > self.config.customer_timeout:
                    del self.at_locker[locker]
                    self._retry(customer, f"no pickup within {self.config.customer_timeout:.0f} s (wall)")
            waiting = sorted((c for c in self.customers.values() if not (c.gave_up or c.collected) and c.due <= now
                              and c.locker_id not in self.at_locker and self._awaiting(c.delivery_id)),
                             key=lambda c: c.due)
            for customer in waiting:
                if customer.locker_id in self.at_locker or not self._serving(customer.locker_id) \
                        or self._pad_busy(customer.locker_id, now):
                    continue
                code = next((k for k, d in self.codes.items() if d == customer.delivery_id), "")
                if not code or customer.locker_id not in self.customer_pubs:
                    continue
                customer.started_wall = wall
                self.at_locker[customer.locker_id] = customer
                self.customer_pubs[customer.locker_id].publish(String(data=code))

    def _awaiting(self, delivery_id: str) -> bool:
        status = self.latest.get(delivery_id)
        return status is not None and status.state == DeliveryStatus.AWAITING_PICKUP

    def _serving(self, locker: str) -> bool:
        return self._locker_online(locker) and not self._pickups_failing(locker)

    def _pickups_failing(self, locker: str) -> bool:
        return self.locker_failures.get(locker, 0) >= self.config.pickup_tries

    def _locker_online(self, locker: str) -> bool:
        state = self.locker_states.get(locker)
        return state is not None and state.mode not in (LockerState.MODE_OFFLINE, LockerState.MODE_UNKNOWN)

    def _free_cells(self, locker: str, size: str) -> int:
        state = self.locker_states.get(locker)
        if state is None:
            return 0
        return sum(1 for cell in state.cells if cell.size == size and not cell.reserved and not cell.fault
                   and cell.occupancy != CellState.OCCUPANCY_OCCUPIED)

    def _pad_busy(self, locker: str, now: float) -> bool:
        """A drone is over the locker's pad, or due there within `pad_clearance` (by the ETA of its IN_FLIGHT
        transition): customers wait, so that no cell opens for a drop while a customer's cell is being opened."""
        for status in self.latest.values():
            if status.locker_id != locker:
                continue
            if status.state in (DeliveryStatus.AT_LOCKER, DeliveryStatus.DROPPING):
                return True
            if status.state == DeliveryStatus.IN_FLIGHT and math.isfinite(status.eta) \
                    and status.header.stamp.to_sec() + status.eta < now + self.config.pad_clearance:
                return True
        return False

    def _locker_down(self, locker: str) -> bool:
        """Stopped by a fault, or OFFLINE for longer than a load hiccup (the locker's link timeouts are wall-clock)."""
        since = self.offline_since.get(locker)
        return locker in self.stopped_lockers or (since is not None
                                                   and time.monotonic() - since > self.config.offline_grace)

    def _all_terminal(self) -> bool:
        with self.lock:
            if self._next < len(self.orders):
                return False
            return all(d in self.latest and self.latest[d].state_name in TERMINAL for d in self.data.submitted)

    def _drain_reason(self, now: float, wall: float) -> str:
        """Why the orders still open should be cancelled now ('' = keep going)."""
        if wall - self.data.start_wall > self.config.timeout:
            return f"scenario timeout ({self.config.timeout:.0f} s wall)"
        if self._next < len(self.orders):
            return ""
        with self.lock:
            open_ids = [d for d in self.data.submitted
                        if d not in self.latest or self.latest[d].state_name not in TERMINAL]
            stuck = [d for d in open_ids if self._stuck(d)]
            if open_ids and len(stuck) == len(open_ids):
                return "nothing more can happen to them: " + "; ".join(sorted({self._stuck(d) for d in stuck}))
            if not self.at_locker and now - self.last_event_sim > self.config.stall:
                return f"no transition for {self.config.stall:.0f} sim s"
        return ""

    def _stuck(self, delivery_id: str) -> str:
        status = self.latest.get(delivery_id)
        if status is None:
            return ""
        customer = self.customers.get(delivery_id)
        if status.state == DeliveryStatus.AWAITING_PICKUP:
            if customer is not None and customer.gave_up:
                return "customer gave up"
            if self._locker_down(status.locker_id):
                return f"parcel in offline {status.locker_id}"
            if self._pickups_failing(status.locker_id):
                return f"pickups failing at {status.locker_id}"
        if status.state == DeliveryStatus.QUEUED and status.locker_id:
            if self._locker_down(status.locker_id):
                return f"queued for offline {status.locker_id}"
            if self._pickups_failing(status.locker_id) and not self._free_cells(status.locker_id, status.cell_size):
                return f"queued for a full {status.locker_id} whose pickups are failing"
        return ""

    def _cancel_open(self, why: str) -> None:
        with self.lock:
            open_ids = sorted(d for d in self.data.submitted
                              if d not in self.latest or self.latest[d].state_name not in TERMINAL)
        self.log(f"ending the scenario: {why}; cancelling {len(open_ids)} open orders")
        self.data.notes.append(f"{len(open_ids)} open orders cancelled at the end: {why}")
        for delivery_id in open_ids:
            with self.lock:
                detail = self._stuck(delivery_id) or (self.latest[delivery_id].state_name
                                                      if delivery_id in self.latest else "unknown")
            try:
                answer = self.cancel(delivery_id=delivery_id, reason=f"scenario end: {detail}")
                if not answer.success:
                    self.data.notes.append(f"{delivery_id}: cancel refused: {answer.message}")
            except (rospy.ServiceException, rospy.ROSException) as exc:
                self.data.notes.append(f"{delivery_id}: cancel failed: {exc}")
        deadline = time.monotonic() + SERVICE_TIMEOUT
        pause = threading.Event()
        while time.monotonic() < deadline:
            with self.lock:
                if all(d in self.latest and self.latest[d].state_name in TERMINAL for d in open_ids):
                    return
            pause.wait(0.2)


def _service_exists(name: str) -> bool:
    try:
        rospy.wait_for_service(name, timeout=0.5)
    except rospy.ROSException:
        return False
    return True
