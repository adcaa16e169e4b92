"""Locker core without ROS: reservations, authorization of every open, command confirmation and timeouts, modes."""
import pytest

from skypost_locker.commands import CommandTracker, Pending
from skypost_locker.core import LockerCore, Mode, Occupancy
from skypost_locker.hardware import Action, HardwareState, bit
from skypost_locker.inventory import LockerError

pytestmark = pytest.mark.unit

SIZES = ["S", "S", "M", "L"]
ALL = 0b1111


def hw(locked=ALL, door_closed=ALL, occupied=0, fault=0, seq=0, result=0, cells=4):
    return HardwareState(cells, locked, door_closed, occupied, fault, seq, result, 1000)


@pytest.fixture
def core():
    core = LockerCore("locker_1", SIZES, reservation_ttl=100.0, command_timeout=3.0, command_retry=0.5)
    core.set_device_online(True)
    core.on_hardware(hw())
    return core


def test_reserve_picks_a_free_cell_of_the_size_and_is_idempotent(core):
    r, what = core.reserve("d1", "S", 0, 0.0, ros_now=10.0)
    assert (r.cell_id, r.expires, what) == (1, 110.0, "reserved")
    again, what = core.reserve("d1", "S", 0, 0.0, ros_now=20.0)
    assert again.cell_id == 1 and what == "already reserved" and again.expires == 120.0
    assert core.reserve("d2", "S", 0, 5.0, ros_now=20.0)[0].cell_id == 2
    with pytest.raises(LockerError, match="no free S cell"):
        core.reserve("d3", "S", 0, 0.0, ros_now=20.0)
    with pytest.raises(LockerError, match="size"):
        core.reserve("d3", "XL", 0, 0.0, ros_now=20.0)


def test_occupied_or_faulty_cells_are_not_reserved(core):
    core.on_hardware(hw(occupied=bit(1), fault=bit(2)))
    with pytest.raises(LockerError, match="no free S cell"):
        core.reserve("d1", "S", 0, 0.0, 0.0)
    with pytest.raises(LockerError, match="occupied"):
        core.reserve("d1", "S", 1, 0.0, 0.0)
    snap = core.snapshot()
    assert snap.cells[0].occupancy == Occupancy.OCCUPIED
    assert snap.cells[1].fault and "door open while locked" in snap.cells[1].fault_reason
    assert snap.free_cells == 2


def test_reservation_moves_to_a_named_cell(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    r, _ = core.reserve("d1", "S", 2, 0.0, 0.0)
    assert r.cell_id == 2 and core.inventory.for_cell(1) is None


def test_reservations_expire_unless_their_cell_was_opened(core):
    core.reserve("d1", "S", 0, 10.0, 0.0)
    core.reserve("d2", "S", 0, 10.0, 0.0)
    core.open_cell(2, "d2", False, ros_now=1.0, wall_now=0.0)
    expired = core.expire_reservations(11.0)
    assert [r.reservation_id for r in expired] == ["d1"]
    assert core.inventory.get("d2") is not None and core.snapshot().cells[1].reservation_expires == 0.0


def test_never_opens_without_matching_reservation(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    with pytest.raises(LockerError, match="no reservation"):
        core.open_cell(1, "", False, 0.0, 0.0)
    with pytest.raises(LockerError, match="no reservation"):
        core.open_cell(1, "other", False, 0.0, 0.0)
    with pytest.raises(LockerError, match="holds cell 1, not 2"):
        core.open_cell(2, "d1", False, 0.0, 0.0)
    with pytest.raises(LockerError, match="expired"):
        core.open_cell(1, "d1", False, ros_now=1000.0, wall_now=0.0)
    assert core.take_outbox() == []


def test_open_sends_unlock_and_waits_for_the_lock_bit(core):
    core.reserve("d1", "M", 0, 0.0, 0.0)
    request = core.open_cell(3, "d1", False, 0.0, wall_now=0.0)
    assert isinstance(request, Pending) and not request.done
    (command,) = core.take_outbox()
    assert (command.cell_id, command.action) == (3, Action.UNLOCK)
    core.on_hardware(hw(locked=ALL & ~bit(3), seq=command.seq))
    assert request.done and request.outcome.success
    assert core.mode() == Mode.BUSY


def test_open_is_idempotent(core):
    core.reserve("d1", "M", 0, 0.0, 0.0)
    first = core.open_cell(3, "d1", False, 0.0, 0.0)
    second = core.open_cell(3, "d1", False, 0.0, 0.1)
    assert first is second and len(core.take_outbox()) == 1  # joined, not sent twice
    core.on_hardware(hw(locked=ALL & ~bit(3)))
    third = core.open_cell(3, "d1", False, 0.0, 0.2)
    assert third.success and "already open" in third.message and core.take_outbox() == []


def test_unconfirmed_command_is_resent_then_times_out_and_marks_a_fault(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    request = core.open_cell(1, "d1", False, 0.0, wall_now=0.0)
    (command,) = core.take_outbox()
    assert core.tick_commands(0.3) == [] and core.take_outbox() == []
    assert core.tick_commands(0.6) == [] and core.take_outbox() == [command]  # same seq again
    failed = core.tick_commands(3.1)
    assert failed == [request] and not request.outcome.success
    assert "did not confirm within 3.0 s" in request.outcome.message
    cell = core.snapshot().cells[0]
    assert cell.fault and "did not confirm" in cell.fault_reason


def test_device_refusal_fails_the_command(core):
    request = core.open_cell(4, "", True, 0.0, 0.0)
    (command,) = core.take_outbox()
    core.on_hardware(hw(seq=command.seq, result=1))
    assert request.done and "refused it (BAD_CELL)" in request.outcome.message


def test_maintenance_open_and_mode(core):
    request = core.open_cell(4, "", True, 0.0, 0.0)
    core.take_outbox()
    core.on_hardware(hw(locked=ALL & ~bit(4)))
    assert request.outcome.success and core.mode() == Mode.MAINTENANCE
    core.close_cell(4, 1.0)
    core.on_hardware(hw())
    assert core.mode() == Mode.ONLINE


def test_going_offline_fails_commands_and_nothing_is_resent_later(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    request = core.open_cell(1, "d1", False, 0.0, 0.0)
    core.take_outbox()
    failed = core.set_device_online(False, "lost sync")
    assert failed == [request] and "offline" in request.outcome.message
    snap = core.snapshot()
    assert snap.mode == Mode.OFFLINE and snap.free_cells == 0 and "lost sync" in snap.message
    assert all(c.occupancy == Occupancy.UNKNOWN for c in snap.cells)
    with pytest.raises(LockerError, match="offline"):
        core.open_cell(1, "d1", False, 0.0, 1.0)
    with pytest.raises(LockerError, match="offline"):
        core.reserve("d9", "S", 0, 0.0, 0.0)
    core.set_device_online(True)
    core.on_hardware(hw())
    core.tick_commands(5.0)
    assert core.take_outbox() == [] and core.mode() == Mode.ONLINE
    assert not core.snapshot().cells[0].fault  # going offline is not a cell fault


def test_pickup_open_refuses_a_cell_held_by_another_delivery(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    with pytest.raises(LockerError, match="another delivery"):
        core.open_for_pickup("d2", 1, 0.0)
    assert isinstance(core.open_for_pickup("d1", 1, 0.0), Pending)
    with pytest.raises(LockerError, match="no cell 9"):
        core.open_for_pickup("d1", 9, 0.0)


def test_finish_pickup_frees_an_empty_cell_only(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    core.on_hardware(hw(occupied=bit(1)))
    outcome = core.finish_pickup("d1", 1)
    assert not outcome.success and core.inventory.get("d1") is not None
    core.on_hardware(hw())
    assert core.finish_pickup("d1", 1).success and core.inventory.get("d1") is None


def test_cells_missing_on_the_controller_are_faulty(core):
    core.on_hardware(hw(cells=3, locked=0b111, door_closed=0b111))
    snap = core.snapshot()
    assert snap.cells[3].fault and "not wired" in snap.cells[3].fault_reason
    with pytest.raises(LockerError, match="not wired"):
        core.open_cell(4, "", True, 0.0, 0.0)


def test_release_is_idempotent(core):
    core.reserve("d1", "S", 0, 0.0, 0.0)
    assert core.release("d1") == "released cell 1"
    assert "already released" in core.release("d1")


def test_lock_all_and_supersede():
    tracker = CommandTracker(timeout=3.0, retry=0.5)
    unlock, _ = tracker.issue(2, Action.UNLOCK, 0.0)
    lock, superseded = tracker.issue(2, Action.LOCK, 0.1)
    assert superseded == [unlock] and "superseded" in unlock.outcome.message
    everything, superseded = tracker.issue(0, Action.LOCK_ALL, 0.2)
    assert superseded == [lock]
    assert tracker.on_state(hw()) == [everything] and everything.outcome.success
    seqs = {tracker.issue(1, Action.UNLOCK, 0.0)[0].command.seq}
    assert 0 not in seqs
