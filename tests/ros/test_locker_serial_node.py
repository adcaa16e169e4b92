"""locker_node without an embedded host (~port empty) behind the generic serial_node, against a Python fake locker
controller (the device side of our codec on a pty): commands go out on device/command, state comes back."""
import io
import struct
import threading

import pytest
from harness import ROOT, wait_for
from rosserial_device import DeviceTopic, FakeDevice

from skypost_locker.rosserial.codec import Frame, TopicInfo

pytestmark = pytest.mark.ros

NS = "/lockers/locker_1"
STARTUP = 90.0


class FakeController:
    """Four cells, all locked and closed; applies LockerCommand frames and publishes LockerHardwareState."""

    def __init__(self) -> None:
        from skypost.msg import LockerCommand, LockerHardwareState

        self.lock = threading.Lock()
        self.locked, self.seq, self.commands = 0b1111, 0, []
        self.device = FakeDevice([
            DeviceTopic(TopicInfo(100, "device/state", "skypost/LockerHardwareState", LockerHardwareState._md5sum,
                                  64), True),
            DeviceTopic(TopicInfo(101, "device/command", "skypost/LockerCommand", LockerCommand._md5sum, 32), False),
        ], on_frame=self.on_frame)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.publish_loop, daemon=True)
        self.thread.start()

    def on_frame(self, frame: Frame) -> None:
        if frame.topic != 101:
            return
        seq, cell, command = struct.unpack("<HBB", frame.payload)
        with self.lock:
            self.commands.append((seq, cell, command))
            if seq != self.seq:
                self.seq = seq
                self.locked = self.locked & ~(1 << (cell - 1)) if command == 1 else self.locked | (1 << (cell - 1))
        self.publish()

    def publish(self) -> None:
        from skypost.msg import LockerHardwareState

        with self.lock:
            msg = LockerHardwareState(cell_count=4, locked=self.locked, door_closed=0b1111, occupied=0, fault=0,
                                      last_command_seq=self.seq, last_command_result=0, uptime_ms=1000)
        buffer = io.BytesIO()
        msg.serialize(buffer)
        self.device.send(100, buffer.getvalue())

    def publish_loop(self) -> None:
        while not self.stop.wait(0.5):
            if self.device.received.topic_requests:
                self.publish()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.device.unplug()


@pytest.fixture(scope="module")
def controller(rospy_node):
    fake = FakeController()
    yield fake
    fake.close()


def test_locker_through_a_separate_serial_node(ros_processes, controller):
    import rospy
    from skypost.msg import LockerState
    from skypost.srv import OpenCell, ReserveCell

    ros_processes.start("serial_node", [str(ROOT / "nodes" / "serial_node"), "__name:=serial_node", f"__ns:={NS}",
                                        f"_port:={controller.device.port}", "_sync_timeout:=3.0"])
    ros_processes.start("locker_node", [str(ROOT / "nodes" / "locker_node"), "__name:=locker_node", f"__ns:={NS}",
                                        "_locker_id:=locker_1", "_cells:=S,S,M,L", "_port:=", "_camera:=false"])
    states = []
    rospy.Subscriber(f"{NS}/state", LockerState, states.append, queue_size=50)
    wait_for(lambda: states and states[-1].mode_name == "ONLINE", STARTUP, "ONLINE through serial_node")
    rospy.wait_for_service(f"{NS}/open_cell", timeout=STARTUP)
    reserve = rospy.ServiceProxy(f"{NS}/reserve_cell", ReserveCell)
    open_cell = rospy.ServiceProxy(f"{NS}/open_cell", OpenCell)
    assert reserve(reservation_id="d7", size="M", cell_id=0, ttl=0.0).cell_id == 3
    result = open_cell(cell_id=3, reservation_id="d7", maintenance=False, reason="")
    assert result.success, result.message
    with controller.lock:
        assert {(cell, command) for _seq, cell, command in controller.commands} == {(3, 1)}
    wait_for(lambda: not states[-1].cells[2].locked, 30, "cell 3 open in the state")
