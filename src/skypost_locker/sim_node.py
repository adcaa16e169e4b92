"""Locker simulation around the REAL firmware: the simavr board, a camera, customers and parcels.

- The board (skypost_sim.avr_locker.SimulatedLockerBoard, firmware/locker/build/locker.elf) runs with its UART on a
  pty reached through `pty_link`, where the locker node opens it like a USB serial port.
- `sim/parcel_arrived` (std_msgs/String, the drone id; published by clover_sim when a drone releases over the pad):
  the IR sensor of the open cell (the one unlocked most recently) sees a parcel.
- `sim/customer_arrive` (std_msgs/String, the pickup code): a customer joins the line at the locker; at the front
  they hold the code's QR up to the camera (`camera/image_raw`, mono8) until the locker's `display` says a cell is
  open for them (they leave if it refuses their code) or `customer_patience` runs out; then they open the door
  (motorised hatches open by themselves), take the parcel (IR off), close the door and leave, and the next in line
  steps up.
The board and the customer act in wall time, like the firmware itself.
"""
from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import rospy
from sensor_msgs.msg import Image
from std_msgs.msg import String

from skypost_sim.avr_locker import FIRMWARE_ELF, HarnessError, SimulatedLockerBoard

from .qr import render_qr
from .sim_customers import CustomerLine

CELL_OPEN = re.compile(r"^Cell (\d+) is open")  # the locker's display when a pickup code opened a cell
CODE_REFUSED = "Code refused"


@dataclass(frozen=True)
class SimConfig:
    locker_id: str
    pty_link: str
    firmware: str = str(FIRMWARE_ELF)
    auto_door: bool = True           # motorised hatches: a door opens when its lock releases, closes when it locks
    door_delay_ms: int = 500
    camera_rate: float = 5.0         # Hz (wall) while a customer shows a code
    customer_patience: float = 30.0  # s (wall) a customer shows the code before leaving
    take_time: float = 1.0           # s (wall) from the open door to the parcel taken and the door closed


def read_sim_config(get) -> SimConfig:
    defaults = SimConfig("", "")
    config = SimConfig(
        locker_id=str(get("locker_id", "")),
        pty_link=str(get("pty_link", "")),
        firmware=str(get("firmware", defaults.firmware)),
        auto_door=bool(get("auto_door", defaults.auto_door)),
        door_delay_ms=int(get("door_delay_ms", defaults.door_delay_ms)),
        camera_rate=float(get("camera_rate", defaults.camera_rate)),
        customer_patience=float(get("customer_patience", defaults.customer_patience)),
        take_time=float(get("take_time", defaults.take_time)),
    )
    if not config.locker_id or not config.pty_link:
        raise ValueError("locker_id and pty_link are required")
    if config.camera_rate <= 0 or config.customer_patience <= 0 or config.take_time < 0:
        raise ValueError("camera_rate and customer_patience must be positive, take_time >= 0")
    return config


class LockerSimNode:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.unlocked_order: list[int] = []   # unlocked cells, most recent last
        self.customers: CustomerLine[Image] = CustomerLine(config.customer_patience)
        self.open_doors: set[int] = set()
        self.taking: set[int] = set()   # cells a customer is taking a parcel from right now
        self._stop = threading.Event()
        self.board = SimulatedLockerBoard(auto_door=config.auto_door, door_delay_ms=config.door_delay_ms,
                                          on_lock_change=self._on_lock_change, on_door_change=self._on_door_change)
        self.board.start(Path(config.firmware), pty_link=Path(config.pty_link))
        # subscribers, publishers
        rospy.Subscriber("sim/parcel_arrived", String, self._on_parcel, queue_size=10)
        rospy.Subscriber("sim/customer_arrive", String, self._on_customer, queue_size=10)
        rospy.Subscriber("display", String, self._on_display, queue_size=10)
        self.camera_pub = rospy.Publisher("camera/image_raw", Image, queue_size=2)
        self.events_pub = rospy.Publisher("sim/events", String, queue_size=50)
        self._camera = threading.Thread(target=self._camera_loop, name="sim-camera", daemon=True)
        self._camera.start()
        rospy.loginfo("locker sim %s: firmware %s on %s (%d cells, hatches %s)", config.locker_id, config.firmware,
                      config.pty_link, self.board.cells, "motorised" if config.auto_door else "manual")

    def _event(self, text: str) -> None:
        rospy.loginfo("locker sim %s: %s", self.config.locker_id, text)
        self.events_pub.publish(String(data=text))

    # ------------------------------------------------------------------------------------------ board events

    def _on_lock_change(self, cell: int, locked: bool) -> None:
        with self.lock:
            if cell in self.unlocked_order:
                self.unlocked_order.remove(cell)
            if not locked:
                self.unlocked_order.append(cell)
        self._event(f"cell {cell} {'locked' if locked else 'unlocked'}")

    def _on_door_change(self, cell: int, opened: bool) -> None:
        self._event(f"hatch {cell} {'open' if opened else 'closed'}")
        with self.lock:
            (self.open_doors.add if opened else self.open_doors.discard)(cell)
            mine = self.customers.owns(cell)
        if opened and mine:
            self._later(self.config.take_time, self._take_and_close, cell)

    def _on_display(self, msg: String) -> None:
        """The customer at the front reads the screen: only the cell it names is theirs (a cell opened for a
        drone's drop at the same time is not)."""
        if msg.data.startswith(CODE_REFUSED):
            with self.lock:
                left = self.customers.refused(time.monotonic())
            if left is not None:
                self._event(f"customer with code {left.code} read \"{msg.data}\" and left")
            return
        match = CELL_OPEN.match(msg.data)
        if not match:
            return
        cell = int(match.group(1))
        with self.lock:
            customer = self.customers.cell_unlocked(cell)
            door_open = cell in self.open_doors
        if customer is None:
            return
        if door_open:
            self._later(self.config.take_time, self._take_and_close, cell)
        elif not self.config.auto_door:
            self._later(0.2, self._open_door, cell)

    def _open_door(self, cell: int) -> None:
        self.board.set_door(cell, open=True)
        self._event(f"customer opened door {cell}")
        self._later(self.config.take_time, self._take_and_close, cell)

    def _take_and_close(self, cell: int) -> None:
        with self.lock:   # scheduled by the door event and by the display: the first one acts
            if not self.customers.owns(cell) or cell in self.taking:
                return
            self.taking.add(cell)
        try:
            self.board.set_ir(cell, present=False)
            self.board.set_door(cell, open=False)
        except HarnessError as exc:
            rospy.logerr("locker sim %s: %s", self.config.locker_id, exc)
            return
        finally:
            with self.lock:
                self.taking.discard(cell)
        with self.lock:
            self.customers.took_parcel(cell, time.monotonic())
            waiting = len(self.customers)
        self._event(f"customer took the parcel from cell {cell}, closed the door and left"
                    + (f"; {waiting} waiting" if waiting else ""))

    def _later(self, delay: float, action, *args) -> None:
        timer = threading.Timer(delay, action, args=args)
        timer.daemon = True
        timer.start()

    # ------------------------------------------------------------------------------------------ world events

    def _on_parcel(self, msg: String) -> None:
        with self.lock:
            cell = self.unlocked_order[-1] if self.unlocked_order else 0
        if not cell:
            rospy.logwarn("locker sim %s: %s released a parcel but no cell is open: it fell on the pad",
                          self.config.locker_id, msg.data or "a drone")
            return
        self.board.set_ir(cell, present=True)
        self._event(f"parcel from {msg.data or 'a drone'} in cell {cell}")

    def _on_customer(self, msg: String) -> None:
        try:
            frame = render_qr(msg.data)
        except ValueError as exc:
            rospy.logerr("locker sim %s: cannot show code: %s", self.config.locker_id, exc)
            return
        image = Image(height=frame.shape[0], width=frame.shape[1], encoding="mono8", is_bigendian=0,
                      step=frame.shape[1], data=frame.tobytes())
        image.header.frame_id = f"{self.config.locker_id}_camera"
        with self.lock:
            joined = self.customers.arrive(msg.data, image, time.monotonic())
            ahead = len(self.customers) - 1
        if joined:
            self._event(f"customer arrived with code {msg.data}" + (f", {ahead} ahead in line" if ahead else ""))

    def _camera_loop(self) -> None:
        """The camera sees the code of the customer at the front while they wait for their cell (wall-clock rate)."""
        while not self._stop.wait(1.0 / self.config.camera_rate):
            with self.lock:
                customer, gave_up = self.customers.showing(time.monotonic())
            if gave_up is not None:
                self._event(f"customer with code {gave_up.code} gave up and left")
            if customer is not None:
                customer.frame.header.stamp = rospy.Time.now()
                self.camera_pub.publish(customer.frame)

    def shutdown(self) -> None:
        self._stop.set()
        self.board.stop()
