"""The real locker firmware on simavr, spoken to over its pty the way the rosserial host does. No ROS master.

The test plays the host with a tiny rosserial codec of its own (the host's codec belongs to the locker node) and
plays the world through the harness's control channel (SimulatedLockerBoard). Messages are encoded and decoded with
the generated skypost classes, so the firmware's hand-written serialization is checked against the .msg files.
"""
from __future__ import annotations

import io
import itertools
import struct
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from harness import wait_for

from skypost_sim.avr_locker import FIRMWARE_ELF, HARNESS, BoardState, HarnessError, SimulatedLockerBoard

pytestmark = pytest.mark.unit
serial = pytest.importorskip("serial")
skypost_msg = pytest.importorskip("skypost.msg")
LockerCommand = skypost_msg.LockerCommand
LockerHardwareState = skypost_msg.LockerHardwareState

ROOT = Path(__file__).resolve().parents[2]
ELF_16_CELLS = ROOT / "firmware" / "locker" / "build" / "cells16" / "locker.elf"
TOPIC_REQUEST, SUBSCRIBER_INFO, LOG, TIME, TX_STOP = 0, 1, 7, 10, 11
WAIT = 30.0  # the machine is shared and loaded: generous deadlines, never sleeps


# ---- a minimal rosserial codec (protocol revision 0xFE) ---------------------------------------------------------

def encode_frame(topic: int, payload: bytes = b"") -> bytes:
    length = struct.pack("<H", len(payload))
    body = struct.pack("<H", topic) + payload
    return b"\xff\xfe" + length + bytes([255 - sum(length) % 256]) + body + bytes([255 - sum(body) % 256])


def decode_frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """Takes complete frames off the front of `buffer`, skipping noise and frames with a bad checksum."""
    while True:
        start = buffer.find(b"\xff\xfe")
        if start < 0:
            del buffer[:-1]
            return
        del buffer[:start]
        if len(buffer) < 7:
            return
        length = struct.unpack_from("<H", buffer, 2)[0]
        if (buffer[2] + buffer[3] + buffer[4]) % 256 != 255:
            del buffer[:2]
            continue
        if len(buffer) < 8 + length:
            return
        body = bytes(buffer[5:7 + length])
        good = (sum(body) + buffer[7 + length]) % 256 == 255
        del buffer[:8 + length]
        if good:
            yield struct.unpack_from("<H", body)[0], body[2:]


def read_string(payload: bytes, offset: int) -> tuple[str, int]:
    length = struct.unpack_from("<I", payload, offset)[0]
    return payload[offset + 4:offset + 4 + length].decode(), offset + 4 + length


@dataclass(frozen=True)
class TopicInfo:
    topic_id: int
    topic_name: str
    message_type: str
    md5sum: str
    buffer_size: int

    @classmethod
    def decode(cls, payload: bytes) -> TopicInfo:
        topic_id = struct.unpack_from("<H", payload)[0]
        name, offset = read_string(payload, 2)
        message_type, offset = read_string(payload, offset)
        md5sum, offset = read_string(payload, offset)
        return cls(topic_id, name, message_type, md5sum, struct.unpack_from("<i", payload, offset)[0])


@dataclass(frozen=True)
class Received:
    topic: int
    payload: bytes
    at: float  # time.monotonic() on arrival


class HostSide:
    """The test's end of the serial line: decodes every frame the device sends, optionally answers time requests."""

    def __init__(self, port: str, answer_time: bool = True) -> None:
        self.answer_time = answer_time
        self.port = serial.Serial(port, 57600, timeout=0.05)
        self.port.reset_input_buffer()
        self.received: list[Received] = []
        self.state_topic: int | None = None
        self.command_topic: int | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def close(self) -> None:
        self._stop.set()
        self._reader.join(5)
        self.port.close()

    def send_raw(self, data: bytes) -> None:
        with self._write_lock:
            self.port.write(data)

    def send(self, topic: int, payload: bytes = b"") -> None:
        self.send_raw(encode_frame(topic, payload))

    def _read(self) -> None:
        buffer = bytearray()
        while not self._stop.is_set():
            buffer += self.port.read(256)
            for topic, payload in decode_frames(buffer):
                self.received.append(Received(topic, payload, time.monotonic()))
                if topic == TIME and self.answer_time:
                    self.send(TIME, struct.pack("<II", int(time.time()), 0))

    def mark(self) -> int:
        return len(self.received)

    def frames(self, topic: int, since: int = 0) -> list[Received]:
        return [frame for frame in self.received[since:] if frame.topic == topic]

    def wait_frame(self, topic: int, since: int, predicate: Callable[[bytes], bool] = lambda _: True,
                   message: str = "") -> Received:
        return wait_for(lambda: next((f for f in self.frames(topic, since) if predicate(f.payload)), None), WAIT,
                        message or f"a frame on topic {topic}")

    # -- the two SkyPost messages --

    def negotiate(self) -> dict[int, TopicInfo]:
        since = self.mark()
        self.send(TOPIC_REQUEST)
        publisher = TopicInfo.decode(self.wait_frame(TOPIC_REQUEST, since, message="publisher TopicInfo").payload)
        subscriber = TopicInfo.decode(self.wait_frame(SUBSCRIBER_INFO, since, message="subscriber TopicInfo").payload)
        self.state_topic, self.command_topic = publisher.topic_id, subscriber.topic_id
        return {TOPIC_REQUEST: publisher, SUBSCRIBER_INFO: subscriber}

    def command(self, seq: int, cell_id: int, command: int) -> None:
        out = io.BytesIO()
        LockerCommand(seq=seq, cell_id=cell_id, command=command).serialize(out)
        assert self.command_topic is not None, "negotiate first"
        self.send(self.command_topic, out.getvalue())

    def states(self, since: int = 0) -> list[LockerHardwareState]:
        assert self.state_topic is not None, "negotiate first"
        return [decode_state(frame.payload) for frame in self.frames(self.state_topic, since)]

    def wait_state(self, since: int, predicate: Callable[[LockerHardwareState], bool],
                   message: str) -> LockerHardwareState:
        return wait_for(lambda: next((s for s in self.states(since) if predicate(s)), None), WAIT, message)


def decode_state(payload: bytes) -> LockerHardwareState:
    assert len(payload) == 16, payload.hex()  # uint8 + 5 x uint16 + uint8 + uint32
    return LockerHardwareState().deserialize(payload)


def logs(host: HostSide, since: int = 0) -> list[str]:
    return [read_string(frame.payload, 1)[0] for frame in host.frames(LOG, since)]


# ---- fixtures ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def firmware() -> Path:
    result = subprocess.run(["make", "-C", str(ROOT / "firmware")], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return FIRMWARE_ELF


def start_board(tmp_path: Path, elf: Path) -> SimulatedLockerBoard:
    board = SimulatedLockerBoard(HARNESS, log=(tmp_path / "locker_sim.log").open("wb"))
    board.start(elf, pty_link=tmp_path / "locker-tty", timeout=WAIT)
    return board


@pytest.fixture
def board(firmware, tmp_path) -> Iterator[SimulatedLockerBoard]:
    board = start_board(tmp_path, firmware)
    try:
        yield board
    finally:
        board.stop()
        assert board.log is not None
        board.log.close()


@pytest.fixture
def host(board, tmp_path) -> Iterator[HostSide]:
    host = HostSide(str(tmp_path / "locker-tty"))
    try:
        yield host
    finally:
        host.close()


@pytest.fixture
def online(host) -> HostSide:
    """A host that negotiated and keeps the time in sync."""
    host.negotiate()
    host.wait_state(0, lambda s: True, "the first state")
    return host


def cell_bit(cell: int) -> int:
    return 1 << (cell - 1)


# ---- tests ---------------------------------------------------------------------------------------------------

def test_negotiation_announces_state_and_command_topics(host):
    topics = host.negotiate()
    publisher, subscriber = topics[TOPIC_REQUEST], topics[SUBSCRIBER_INFO]
    assert (publisher.topic_name, publisher.message_type, publisher.md5sum) == (
        "device/state", "skypost/LockerHardwareState", LockerHardwareState._md5sum)
    assert (subscriber.topic_name, subscriber.message_type, subscriber.md5sum) == (
        "device/command", "skypost/LockerCommand", LockerCommand._md5sum)
    assert publisher.topic_id >= 100 and subscriber.topic_id >= 100 and publisher.topic_id != subscriber.topic_id
    assert publisher.buffer_size >= 24 and subscriber.buffer_size >= 4  # a state frame, a command payload

    time_request = host.wait_frame(TIME, 0, message="a time request")
    assert time_request.payload == bytes(8)  # an empty std_msgs/Time
    assert any(line.startswith("SkyPost locker firmware") for line in
               wait_for(lambda: logs(host), WAIT, "the greeting log line"))
    state = host.wait_state(0, lambda s: True, "the first state")
    assert (state.cell_count, state.locked, state.door_closed, state.occupied, state.fault) == (8, 0xFF, 0xFF, 0, 0)


def test_state_is_published_every_second_and_at_once_on_change(online, board):
    wait_for(lambda: len(online.states()) >= 4, WAIT, "four states")
    uptimes = [state.uptime_ms for state in online.states()[-3:]]
    assert all(950 <= later - earlier <= 1100 for earlier, later in itertools.pairwise(uptimes)), uptimes

    # Periodic states come 1000 ms (device time) after the previous one; a state sent because something changed
    # comes sooner. Each of three door moves is reported in a state; at least one must be off the 1 s beat (all
    # three landing on it by chance is about one in a billion), however slowly this test process runs.
    gaps = []
    for open_ in (True, False, True):
        since = online.mark()
        board.set_door(2, open=open_)
        online.wait_state(since, lambda s, o=open_: bool(s.door_closed & cell_bit(2)) != o, f"door 2 open={open_}")
        states = online.states()
        reported = next(i for i in range(len(states) - 1, 0, -1)
                        if bool(states[i].door_closed & cell_bit(2)) != open_
                        and bool(states[i - 1].door_closed & cell_bit(2)) == open_)
        gaps.append(states[reported].uptime_ms - states[reported - 1].uptime_ms)
    assert min(gaps) < 990, gaps


def test_unlock_releases_the_cell_and_lock_engages_it_again(online, board):
    since = online.mark()
    online.command(seq=1, cell_id=3, command=LockerCommand.UNLOCK)
    wait_for(lambda: not board.locks() & cell_bit(3), WAIT, "lock 3 output released")
    assert board.locks() == 0xFF & ~cell_bit(3), "only cell 3 moved"
    state = online.wait_state(since, lambda s: s.last_command_seq == 1, "state after the command")
    assert state.locked == 0xFF & ~cell_bit(3)
    assert state.last_command_result == LockerHardwareState.RESULT_OK

    online.command(seq=2, cell_id=3, command=LockerCommand.LOCK)
    wait_for(lambda: board.locks() == 0xFF, WAIT, "lock 3 engaged again")
    assert board.state().locked == 0xFF


def test_repeated_seq_is_acknowledged_but_not_applied(online, board):
    online.command(seq=7, cell_id=2, command=LockerCommand.UNLOCK)
    wait_for(lambda: not board.locks() & cell_bit(2), WAIT, "lock 2 released")
    online.wait_state(0, lambda s: s.last_command_seq == 7, "seq 7 applied")

    since = online.mark()
    online.command(seq=7, cell_id=2, command=LockerCommand.LOCK)  # a different command under the same seq
    acknowledged = online.wait_state(since, lambda s: s.last_command_seq == 7, "seq 7 acknowledged again")
    assert acknowledged.locked == 0xFF & ~cell_bit(2)
    assert not board.locks() & cell_bit(2), "a repeated seq must not be applied"

    online.command(seq=8, cell_id=0, command=LockerCommand.LOCK_ALL)
    wait_for(lambda: board.locks() == 0xFF, WAIT, "all locked by the next seq")


def test_bad_cell_and_unknown_command_are_reported_and_change_nothing(online, board):
    for seq, cell, command, result in (
        (20, 0, LockerCommand.UNLOCK, LockerHardwareState.RESULT_BAD_CELL),
        (21, 9, LockerCommand.UNLOCK, LockerHardwareState.RESULT_BAD_CELL),
        (22, 1, 99, LockerHardwareState.RESULT_BAD_COMMAND),
    ):
        since = online.mark()
        online.command(seq=seq, cell_id=cell, command=command)
        state = online.wait_state(since, lambda s, seq=seq: s.last_command_seq == seq, f"seq {seq} reported")
        assert state.last_command_result == result
        assert state.locked == 0xFF
    assert board.state().locked == 0xFF


def test_door_and_ir_sensors_reach_the_state(online, board):
    since = online.mark()
    board.set_door(5, open=True)
    board.set_ir(5, present=True)
    board.set_ir(8, present=True)
    state = online.wait_state(since, lambda s: s.occupied == cell_bit(5) | cell_bit(8) and s.door_closed != 0xFF,
                              "door 5 open, parcels in 5 and 8")
    assert state.door_closed == 0xFF & ~cell_bit(5)

    since = online.mark()
    board.set_door(5, open=False)
    board.set_ir(5, present=False)
    online.wait_state(since, lambda s: s.door_closed == 0xFF and s.occupied == cell_bit(8), "door 5 shut, cell empty")


def test_locked_cell_whose_door_stays_open_becomes_a_fault(online, board):
    since = online.mark()
    board.set_door(6, open=True)  # cell 6 is locked: forced open, or the latch failed
    opened = online.wait_state(since, lambda s: not s.door_closed & cell_bit(6), "door 6 open")
    assert not opened.fault
    faulty = online.wait_state(since, lambda s: s.fault == cell_bit(6), "fault on cell 6")
    assert faulty.uptime_ms - opened.uptime_ms >= 2900, "not before the grace period"
    wait_for(lambda: "cell 6: door open while locked" in logs(online, since), WAIT, "the fault log line")

    since = online.mark()
    board.set_door(6, open=False)
    online.wait_state(since, lambda s: s.fault == 0 and s.door_closed == 0xFF, "fault cleared by closing the door")


def test_frames_with_a_bad_checksum_are_ignored(online, board):
    good = encode_frame(online.command_topic, struct.pack("<HBB", 30, 4, LockerCommand.UNLOCK))
    bad_body = good[:-1] + bytes([(good[-1] + 1) % 256])
    bad_length = good[:4] + bytes([(good[4] + 1) % 256]) + good[5:]
    online.send_raw(bad_body + bad_length)
    online.command(seq=31, cell_id=1, command=LockerCommand.UNLOCK)  # a good frame right behind them

    state = online.wait_state(0, lambda s: s.last_command_seq == 31, "the good command applied")
    assert state.locked == 0xFF & ~cell_bit(1), "cell 4 must stay locked"
    assert board.locks() == 0xFF & ~cell_bit(1)


def test_commands_before_negotiation_are_ignored(host, board):
    host.command_topic = 101  # as the device will announce it; the device is not configured yet
    host.command(seq=1, cell_id=2, command=LockerCommand.UNLOCK)
    topics = host.negotiate()
    assert topics[SUBSCRIBER_INFO].topic_id == 101
    state = host.wait_state(0, lambda s: True, "the first state")
    assert state.locked == 0xFF and state.last_command_seq == 0
    assert board.locks() == 0xFF


def test_reset_locks_every_cell_and_waits_for_a_new_negotiation(online, board):
    online.command(seq=1, cell_id=2, command=LockerCommand.UNLOCK)
    online.wait_state(0, lambda s: s.locked == 0xFF & ~cell_bit(2), "cell 2 unlocked in the state")

    since = online.mark()
    board.reset()
    wait_for(lambda: board.locks() == 0xFF, WAIT, "every cell locked after the reset")
    assert board.resets == 1
    # Frames sent before the reset may still be on their way; any state from the rebooted device is all-locked.
    silence_until = time.monotonic() + 2.5  # configured, the device would publish every second
    rebooted = lambda: [s for s in online.states(since) if s.locked == 0xFF]  # noqa: E731
    wait_for(lambda: time.monotonic() > silence_until or rebooted(), WAIT, "2.5 s")
    assert not rebooted(), "an unconfigured device publishes nothing"

    online.negotiate()
    state = online.wait_state(since, lambda s: True, "state after renegotiation")
    assert state.locked == 0xFF and state.uptime_ms < 10000
    assert any(line.endswith("reset: reset pin") for line in logs(online, since)), logs(online, since)


@pytest.mark.timeout(120)
def test_without_time_sync_the_device_goes_quiet_until_renegotiated(host):
    """~11 s without a time reply: unconfigured. The one slow test (real seconds of simulated time)."""
    host.answer_time = False
    since = host.mark()
    host.negotiate()
    negotiated_at = time.monotonic()
    host.wait_state(since, lambda s: True, "the first state")

    def quiet_since() -> float | None:
        """When the device went quiet, once nothing has come for 3 s (it publishes every second when in sync)."""
        last = host.received[-1].at
        return last if time.monotonic() - last > 3.0 else None

    went_quiet = wait_for(quiet_since, 60, "the device to stop publishing")
    assert 9.0 < went_quiet - negotiated_at < 20.0  # 11 s of device time; the harness may slip on a loaded machine
    requests = [frame.at for frame in host.frames(TIME, since)]  # the first comes with the TopicInfos
    gaps = [later - earlier for earlier, later in itertools.pairwise(requests)]
    assert len(gaps) >= 2 and all(3.0 < gap < 8.0 for gap in gaps), gaps  # a time request every ~5 s

    host.answer_time = True
    since = host.mark()
    host.negotiate()
    host.wait_state(since, lambda s: True, "publishing again after renegotiation")


def test_sixteen_cell_board(firmware, tmp_path):
    build = subprocess.run(["make", "-C", str(ROOT / "firmware" / "locker"), f"BUILD={ELF_16_CELLS.parent}",
                            "CELLS=16"], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stdout + build.stderr
    board = start_board(tmp_path, ELF_16_CELLS)
    host = HostSide(str(tmp_path / "locker-tty"))
    try:
        assert board.cells == 16 and board.locks() == 0xFFFF
        host.negotiate()
        host.command(seq=1, cell_id=16, command=LockerCommand.UNLOCK)
        host.command(seq=2, cell_id=9, command=LockerCommand.UNLOCK)
        wait_for(lambda: board.locks() == 0xFFFF & ~cell_bit(16) & ~cell_bit(9), WAIT, "locks 9 and 16 released")
        board.set_door(12, open=True)
        board.set_ir(15, present=True)
        state = host.wait_state(0, lambda s: s.occupied == cell_bit(15) and s.last_command_seq == 2,
                                "the 16-cell state")
        assert state.cell_count == 16
        assert state.locked == 0xFFFF & ~cell_bit(16) & ~cell_bit(9)
        assert state.door_closed == 0xFFFF & ~cell_bit(12)
    finally:
        host.close()
        board.stop()
        assert board.log is not None
        board.log.close()


def test_auto_door_hatch_follows_its_lock(firmware, tmp_path):
    moves: list[tuple[int, bool]] = []
    board = SimulatedLockerBoard(HARNESS, auto_door=True, door_delay_ms=200, on_door_change=lambda *m: moves.append(m))
    board.start(firmware, pty_link=tmp_path / "locker-tty", timeout=WAIT)
    host = HostSide(str(tmp_path / "locker-tty"))
    try:
        host.negotiate()
        host.command(seq=1, cell_id=4, command=LockerCommand.UNLOCK)
        wait_for(lambda: moves == [(4, True)], WAIT, "hatch 4 opening")
        host.wait_state(0, lambda s: s.door_closed == 0xFF & ~cell_bit(4), "door 4 open in the state")
        host.command(seq=2, cell_id=4, command=LockerCommand.LOCK)
        wait_for(lambda: moves == [(4, True), (4, False)], WAIT, "hatch 4 closing")
        closed = host.wait_state(0, lambda s: s.last_command_seq == 2 and s.door_closed == 0xFF, "door 4 shut")
        assert closed.fault == 0, "the hatch closes well within the fault grace period"
    finally:
        host.close()
        board.stop()


def test_wrapper_reports_refused_commands_and_missing_files(board, tmp_path):
    with pytest.raises(HarnessError, match=r"door <1\.\.8>"):
        board.set_door(9, open=True)
    assert board.state() == BoardState(locked=0xFF, door_closed=0xFF, occupied=0)  # still answering
    with pytest.raises(HarnessError, match="does not exist"):
        SimulatedLockerBoard(HARNESS).start(tmp_path / "missing.elf")
    (tmp_path / "junk.elf").write_bytes(b"not an ELF file")
    with (tmp_path / "junk.log").open("wb") as log, pytest.raises(HarnessError, match="exited with code 1"):
        SimulatedLockerBoard(HARNESS, log=log).start(tmp_path / "junk.elf")
    assert "cannot load" in (tmp_path / "junk.log").read_text()
