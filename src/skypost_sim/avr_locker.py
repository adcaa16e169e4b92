"""The locker's real firmware running in simavr (firmware/simavr/locker_sim), driven from Python.

`SimulatedLockerBoard` starts the harness, which puts the board's UART on a pseudo-terminal (the rosserial host opens
it like a USB serial port) and emulates the locker hardware: tests and the locker simulation open and close doors,
put parcels in cells and watch the lock outputs here. The control protocol is in firmware/README.md. No ROS.
"""
from __future__ import annotations

import queue
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "firmware" / "simavr" / "build" / "locker_sim"
FIRMWARE_ELF = ROOT / "firmware" / "locker" / "build" / "locker.elf"

LockChange = Callable[[int, bool], None]  # (cell, locked); called on the reader thread
DoorChange = Callable[[int, bool], None]  # (cell, open): an --auto-door hatch moved; called on the reader thread


class HarnessError(RuntimeError):
    """The harness refused a command, did not answer in time, or is not running."""


@dataclass(frozen=True)
class BoardState:
    """Bit i is cell i + 1, as in skypost/LockerHardwareState."""

    locked: int
    door_closed: int
    occupied: int


class SimulatedLockerBoard:
    """One simulated locker board: firmware on simavr, a pty for the host, a line protocol for the world."""

    def __init__(self, harness: Path = HARNESS, auto_door: bool = False, door_delay_ms: int = 500,
                 on_lock_change: LockChange | None = None, on_door_change: DoorChange | None = None,
                 log: IO[bytes] | None = None) -> None:
        self.harness = Path(harness)
        self.auto_door = auto_door
        self.door_delay_ms = door_delay_ms
        self.on_lock_change = on_lock_change
        self.on_door_change = on_door_change
        self.log = log  # the harness's stderr (simavr messages); None: inherited
        self.pty = ""
        self.cells = 0
        self.resets = 0  # MCU resets seen (watchdog or reset())
        self._locked = 0
        self._process: subprocess.Popen[str] | None = None
        self._reader: threading.Thread | None = None
        self._replies: queue.Queue[str] = queue.Queue()
        self._ready = threading.Event()
        self._command_lock = threading.Lock()
        self._state_lock = threading.Lock()

    def start(self, elf: Path = FIRMWARE_ELF, pty_link: Path | None = None, timeout: float = 30.0) -> str:
        """Runs the firmware; returns the pty path (or `pty_link`, a symlink to it, when given)."""
        if self._process is not None:
            raise HarnessError("already started")
        for path in (self.harness, Path(elf)):
            if not path.exists():
                raise HarnessError(f"{path} does not exist: run `make -C firmware`")
        cmd = [str(self.harness)]
        if pty_link is not None:
            cmd += ["--pty-link", str(pty_link)]
        if self.auto_door:
            cmd += ["--auto-door", "--door-delay-ms", str(self.door_delay_ms)]
        cmd.append(str(elf))
        self._process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                         text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, name="locker-sim-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(timeout) or not self.pty:
            try:
                code: int | None = self._process.wait(1.0)
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            reason = f"exited with code {code} (see its stderr)" if code is not None else \
                f"did not come up within {timeout:.0f}s"
            raise HarnessError(f"locker_sim {reason}")
        return str(pty_link) if pty_link is not None else self.pty

    def stop(self, timeout: float = 5.0) -> None:
        """Stops the harness (it also stops by itself when this process goes away: its stdin closes)."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None and process.stdin:
                process.stdin.write("quit\n")
                process.stdin.flush()
            process.wait(timeout)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait(timeout)
        finally:
            if process.stdin:
                process.stdin.close()
        if self._reader is not None:
            self._reader.join(timeout)
        if process.stdout:
            process.stdout.close()

    def __enter__(self) -> SimulatedLockerBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_door(self, cell: int, open: bool) -> None:
        self._command(f"door {cell} {'open' if open else 'closed'}")

    def set_ir(self, cell: int, present: bool) -> None:
        self._command(f"ir {cell} {1 if present else 0}")

    def locks(self) -> int:
        """Engaged locks as last reported by the harness (bit i: cell i + 1 locked)."""
        with self._state_lock:
            return self._locked

    def state(self) -> BoardState:
        """Asks the harness for the board's outputs and sensors right now."""
        fields = dict(item.split("=") for item in self._command("get").split()[1:])
        return BoardState(*(int(fields[key], 16) for key in ("locked", "door_closed", "occupied")))

    def reset(self) -> None:
        """Presses the board's reset button."""
        self._command("reset")

    def _command(self, line: str, timeout: float = 10.0) -> str:
        with self._command_lock:
            process = self._process
            if process is None or process.poll() is not None or process.stdin is None:
                raise HarnessError("locker_sim is not running")
            process.stdin.write(line + "\n")
            process.stdin.flush()
            try:
                reply = self._replies.get(timeout=timeout)
            except queue.Empty:
                raise HarnessError(f"no answer to {line!r} within {timeout:.0f}s") from None
        if reply.startswith("error"):
            raise HarnessError(reply)
        return reply

    def _read(self) -> None:
        process = self._process
        assert process is not None and process.stdout is not None
        for raw in process.stdout:
            words = raw.split()
            if not words:
                continue
            kind = words[0]
            if kind == "PTY":
                self.pty = words[1]
            elif kind == "board":
                self.cells = int(dict(word.split("=") for word in words[1:])["cells"])
                self._locked = (1 << self.cells) - 1  # the firmware boots with every latch engaged
            elif kind == "ready":
                self._ready.set()
            elif kind == "lock":
                self._lock_changed(int(words[1]), words[2] == "locked")
            elif kind == "door" and self.on_door_change is not None:
                self.on_door_change(int(words[1]), words[2] == "open")
            elif kind == "reset":
                self.resets += 1
            elif kind in ("ok", "error", "state"):
                self._replies.put(raw.strip())
        self._ready.set()  # the harness ended: wake a start() still waiting

    def _lock_changed(self, cell: int, locked: bool) -> None:
        bit = 1 << (cell - 1)
        with self._state_lock:
            self._locked = self._locked | bit if locked else self._locked & ~bit
        if self.on_lock_change is not None:
            self.on_lock_change(cell, locked)
