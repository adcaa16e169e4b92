"""Lock commands in flight: sequence numbers, resends, confirmation by the device's lock bits, timeouts. Pure.

A command counts as done only when the device REPORTS the lock bit it asked for (or every bit, for LOCK_ALL) within
`timeout` seconds (wall clock: this is about the device, not the mission). Until then it is resent every `retry`
seconds with the same seq (the firmware applies a seq once and acknowledges repeats), so a frame lost on the wire
does not fail a command. When the device goes out of sync every command in flight fails at once and nothing is
resent later: a command never outlives the session it was sent in.
"""
from __future__ import annotations

from dataclasses import dataclass

from .hardware import Action, Command, DeviceResult, HardwareState


@dataclass(frozen=True)
class Outcome:
    success: bool
    message: str


@dataclass
class Pending:
    command: Command
    deadline: float
    last_sent: float
    outcome: Outcome | None = None

    @property
    def done(self) -> bool:
        return self.outcome is not None


def describe(command: Command) -> str:
    if command.action == Action.LOCK_ALL:
        return "lock all cells"
    return f"{command.action.name.lower()} cell {command.cell_id}"


def reached(command: Command, state: HardwareState) -> bool:
    """Does the device's state show what the command asked for?"""
    if command.action == Action.LOCK_ALL:
        return state.all_locked()
    if not state.has(command.cell_id):
        return False
    return state.is_locked(command.cell_id) == (command.action != Action.UNLOCK)


class CommandTracker:
    def __init__(self, timeout: float = 3.0, retry: float = 0.5) -> None:
        if timeout <= 0 or retry <= 0:
            raise ValueError("command timeout and retry must be positive")
        self.timeout = timeout
        self.retry = retry
        self._seq = 0
        self._pending: dict[int, Pending] = {}  # by seq

    def _next_seq(self) -> int:
        self._seq = self._seq % 0xFFFF + 1  # 1..65535: never 0, the device's "nothing applied yet"
        return self._seq

    @property
    def pending(self) -> list[Pending]:
        return list(self._pending.values())

    def issue(self, cell_id: int, action: Action, now: float) -> tuple[Pending, list[Pending]]:
        """A command to send now, or the identical one already in flight (then nothing new to send: its
        `last_sent` is not now). Returns it and the commands it superseded (failed: another order for the cell)."""
        for pending in self._pending.values():
            if pending.command.cell_id == cell_id and pending.command.action == action:
                return pending, []
        superseded = []
        for seq, pending in list(self._pending.items()):
            if action == Action.LOCK_ALL or pending.command.action == Action.LOCK_ALL \
                    or pending.command.cell_id == cell_id:
                pending.outcome = Outcome(False, f"{describe(pending.command)}: superseded by {action.name}")
                superseded.append(self._pending.pop(seq))
        pending = Pending(Command(self._next_seq(), cell_id, action), now + self.timeout, now)
        self._pending[pending.command.seq] = pending
        return pending, superseded

    def on_state(self, state: HardwareState) -> list[Pending]:
        """Commands the device confirmed or refused with this state."""
        finished = []
        for seq, pending in list(self._pending.items()):
            command = pending.command
            if state.last_command_seq == seq and state.last_command_result != DeviceResult.OK:
                result = DeviceResult(state.last_command_result).name \
                    if state.last_command_result in DeviceResult._value2member_map_ else state.last_command_result
                pending.outcome = Outcome(False, f"{describe(command)}: the device refused it ({result})")
            elif reached(command, state):
                pending.outcome = Outcome(True, f"{describe(command)}: confirmed by the device")
            else:
                continue
            finished.append(self._pending.pop(seq))
        return finished

    def resends(self, now: float) -> list[Command]:
        """Commands to send again (same seq) because the device has not confirmed them yet."""
        due = []
        for pending in self._pending.values():
            if now - pending.last_sent >= self.retry:
                pending.last_sent = now
                due.append(pending.command)
        return due

    def expire(self, now: float) -> list[Pending]:
        finished = []
        for seq, pending in list(self._pending.items()):
            if now >= pending.deadline:
                pending.outcome = Outcome(False, f"{describe(pending.command)}: the device did not confirm within "
                                                 f"{self.timeout:.1f} s")
                finished.append(self._pending.pop(seq))
        return finished

    def fail_all(self, why: str) -> list[Pending]:
        finished = []
        for pending in self._pending.values():
            pending.outcome = Outcome(False, f"{describe(pending.command)}: {why}")
            finished.append(pending)
        self._pending.clear()
        return finished
