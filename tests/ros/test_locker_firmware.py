"""The locker node against the REAL firmware in simavr: negotiation, time sync, open cell -> lock pin, door sensor
pin -> state, link pulled -> OFFLINE -> harness back -> resynced with no cell opened by the resync."""
import threading
import time
from pathlib import Path

import pytest
from harness import ROOT, wait_for

pytestmark = pytest.mark.ros

LOCKER = "locker_1"
NS = f"/lockers/{LOCKER}"
SYNC_TIMEOUT = 3.0
STARTUP = 90.0  # loaded machine: node start-up, firmware boot, negotiation


class Recorder:
    """Lock output changes reported by the harness (the pins the lock drivers hang on)."""

    def __init__(self) -> None:
        self.events: list[tuple[int, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, cell: int, locked: bool) -> None:
        with self.lock:
            self.events.append((cell, locked))

    def unlocked(self) -> list[int]:
        with self.lock:
            return [cell for cell, locked in self.events if not locked]


@pytest.fixture(scope="module")
def pty_link(roscore):
    return Path(roscore.home) / "usb-skypost_locker_1-if00"


@pytest.fixture(scope="module")
def board(pty_link):
    from skypost_sim.avr_locker import SimulatedLockerBoard

    recorder = Recorder()
    sim = SimulatedLockerBoard(auto_door=False, on_lock_change=recorder)
    sim.recorder = recorder
    sim.start(pty_link=pty_link)
    yield sim
    sim.stop()


@pytest.fixture(scope="module")
def locker(roscore, ros_processes, rospy_node, board, pty_link):
    import rospy
    from diagnostic_msgs.msg import DiagnosticArray
    from skypost.msg import LockerState
    from skypost.srv import CloseCell, OpenCell, ReleaseCell, ReserveCell

    ros_processes.start("locker_node", [
        str(ROOT / "nodes" / "locker_node"), "__name:=locker_node", f"__ns:={NS}", f"_locker_id:={LOCKER}",
        f"_world:={ROOT / 'config' / 'world.yaml'}", f"_port:={pty_link}", f"_sync_timeout:={SYNC_TIMEOUT}",
        "_camera:=false", "_command_timeout:=5.0",
    ])
    seen: dict = {"state": None, "diag": None, "states": []}

    def on_state(msg):
        seen["state"] = msg
        seen["states"].append((time.monotonic(), msg.mode_name))

    def on_diag(msg):
        for status in msg.status:
            if status.name == f"locker {LOCKER}: controller":
                seen["diag"] = {kv.key: kv.value for kv in status.values}

    rospy.Subscriber(f"{NS}/state", LockerState, on_state, queue_size=50)
    rospy.Subscriber("/diagnostics", DiagnosticArray, on_diag, queue_size=50)
    for name in ("reserve_cell", "open_cell", "close_cell", "release_cell"):
        rospy.wait_for_service(f"{NS}/{name}", timeout=STARTUP)
    return {
        "seen": seen,
        "reserve": rospy.ServiceProxy(f"{NS}/reserve_cell", ReserveCell),
        "open": rospy.ServiceProxy(f"{NS}/open_cell", OpenCell),
        "close": rospy.ServiceProxy(f"{NS}/close_cell", CloseCell),
        "release": rospy.ServiceProxy(f"{NS}/release_cell", ReleaseCell),
    }


def state(locker):
    return locker["seen"]["state"]


def cell(locker, cell_id):
    return state(locker).cells[cell_id - 1]


def online(locker):
    msg = state(locker)
    return msg is not None and msg.mode_name in ("ONLINE", "BUSY")


def test_negotiation_and_time_sync(locker, board):
    wait_for(lambda: online(locker), STARTUP, "the locker ONLINE over the firmware's rosserial link")
    msg = state(locker)
    assert len(msg.cells) == 8 and [c.size for c in msg.cells] == list("SSSMMMLL")
    assert all(c.locked and c.door_closed for c in msg.cells)
    assert msg.marker_id == 11 and msg.free_cells == 8
    wait_for(lambda: locker["seen"]["diag"] and int(locker["seen"]["diag"]["time_requests"]) >= 1
             and locker["seen"]["diag"]["controller_cells"] == "8", 30, "the firmware's time request answered")
    assert locker["seen"]["diag"]["synced"] == "True"


def test_open_cell_moves_the_lock_pin(locker, board):
    reserved = locker["reserve"](reservation_id="d1", size="S", cell_id=0, ttl=0.0)
    assert reserved.success and reserved.cell_id == 1, reserved.message
    refused = locker["open"](cell_id=2, reservation_id="d1", maintenance=False, reason="")
    assert not refused.success and "holds cell 1" in refused.message
    assert board.recorder.unlocked() == []

    opened = locker["open"](cell_id=1, reservation_id="d1", maintenance=False, reason="")
    assert opened.success, opened.message
    assert board.state().locked == 0xFE, "the lock output of cell 1 must be released, no other"
    wait_for(lambda: board.recorder.unlocked() == [1], 10, "the harness's lock event for cell 1")
    wait_for(lambda: not cell(locker, 1).locked and state(locker).mode_name == "BUSY", 30, "cell 1 open in state")
    again = locker["open"](cell_id=1, reservation_id="d1", maintenance=False, reason="")
    assert again.success and "already open" in again.message

    closed = locker["close"](cell_id=1)
    assert closed.success, closed.message
    assert board.state().locked == 0xFF
    wait_for(lambda: cell(locker, 1).locked and state(locker).mode_name == "ONLINE", 30, "cell 1 locked in state")


def test_door_and_ir_sensor_pins_reach_the_state(locker, board):
    board.set_door(3, open=True)
    wait_for(lambda: not cell(locker, 3).door_closed, 30, "door 3 open in the state")
    assert state(locker).mode_name == "BUSY"
    board.set_door(3, open=False)
    wait_for(lambda: cell(locker, 3).door_closed, 30, "door 3 closed in the state")
    board.set_ir(2, present=True)
    wait_for(lambda: cell(locker, 2).occupancy == 2, 30, "cell 2 occupied in the state")
    assert state(locker).free_cells == 6  # cell 1 reserved, cell 2 occupied
    board.set_ir(2, present=False)
    wait_for(lambda: cell(locker, 2).occupancy == 1, 30, "cell 2 empty again")


def test_session_survives_past_the_firmware_sync_limit(locker, board):
    # The firmware drops a host that has not answered its time requests for 11 s: still in sync after that long
    # means the host answered them.
    wait_for(lambda: float(locker["seen"]["diag"]["controller_uptime_s"]) > 13.0, 60, "13 s of device uptime")
    diag = locker["seen"]["diag"]
    assert diag["sync_losses"] == "0" and int(diag["time_requests"]) >= 2
    assert online(locker)


def test_pulled_link_goes_offline_then_resyncs_without_opening_a_cell(locker, board, pty_link):
    from skypost_sim.avr_locker import SimulatedLockerBoard

    opened = locker["open"](cell_id=4, reservation_id="", maintenance=True, reason="test: open before the pull")
    assert opened.success and board.state().locked == 0xF7
    wait_for(lambda: state(locker).mode_name == "MAINTENANCE", 30, "maintenance mode")

    pulled = time.monotonic()
    board.stop()  # the harness exits: the pty vanishes like an unplugged USB cable
    wait_for(lambda: state(locker).mode_name == "OFFLINE", SYNC_TIMEOUT + 10, "OFFLINE after the link was pulled")
    offline_after = next(t for t, mode in locker["seen"]["states"] if t >= pulled and mode == "OFFLINE") - pulled
    assert offline_after <= SYNC_TIMEOUT + 2.0
    assert "offline" in state(locker).message
    refused = locker["open"](cell_id=1, reservation_id="d1", maintenance=False, reason="")
    assert not refused.success and "offline" in refused.message

    recorder = Recorder()
    replacement = SimulatedLockerBoard(auto_door=False, on_lock_change=recorder)
    replacement.start(pty_link=pty_link)  # the same stable path, a new pty behind it
    try:
        wait_for(lambda: state(locker).mode_name == "ONLINE", 60, "ONLINE again after the harness came back")
        assert all(c.locked for c in state(locker).cells)
        reserved_cell = cell(locker, 1)
        assert reserved_cell.reserved and reserved_cell.reservation_id == "d1"  # bookkeeping survives
        # give a wrongly replayed command time to arrive (the resend period is 0.5 s); the old board's uptime
        # was over 13 s, so a value in (3, 12) is the new board's
        wait_for(lambda: 3.0 < float(locker["seen"]["diag"]["controller_uptime_s"]) < 12.0, 30,
                 "3 s of the new board's uptime")
        assert replacement.state().locked == 0xFF
        assert recorder.unlocked() == [] and replacement.locks() == 0xFF
        opened = locker["open"](cell_id=1, reservation_id="d1", maintenance=False, reason="")
        assert opened.success and replacement.state().locked == 0xFE
        wait_for(lambda: recorder.unlocked() == [1], 10, "the harness's lock event for cell 1")
    finally:
        replacement.stop()
