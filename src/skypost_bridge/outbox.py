"""One client's outgoing frames: written straight through while its socket keeps up, queued (bounded) while it
does not. A slow client only ever costs its own queue: frames of a subscription with a queue_length keep only the
newest `queue_length` waiting, and past `max_bytes` the oldest frames are dropped and reported to `on_drop`."""
from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

Writer = Callable[[bytes, bool], Any]


class _Entry:
    __slots__ = ("binary", "data", "dropped", "key")

    def __init__(self, data: bytes, binary: bool, key: Hashable | None) -> None:
        self.data = data
        self.binary = binary
        self.key = key  # set only for entries counted against a per-key limit
        self.dropped = False


class Outbox:
    def __init__(self, write: Writer, max_bytes: int, on_drop: Callable[[int], None]) -> None:
        self._write = write
        self.max_bytes = max_bytes
        self._on_drop = on_drop
        self._items: deque[_Entry] = deque()
        self._per_key: dict[Hashable, deque[_Entry]] = {}
        self.paused = False
        self.queued_bytes = 0
        self.dropped = 0
        self.sent = 0

    def __len__(self) -> int:
        return sum(1 for entry in self._items if not entry.dropped)

    def push(self, data: bytes, binary: bool = False, key: Hashable | None = None, limit: int = 0) -> None:
        """Send `data` now, or queue it; `limit` > 0 keeps at most that many queued frames of `key`."""
        if not self.paused and not self._items:
            self.sent += 1
            self._write(data, binary)
            return
        dropped = 0
        entry = _Entry(data, binary, key if limit > 0 else None)
        if entry.key is not None:
            same = self._per_key.get(key)
            if same is None:
                same = self._per_key[key] = deque()
            while len(same) >= limit:
                old = same.popleft()
                old.dropped = True
                self.queued_bytes -= len(old.data)
                dropped += 1
            same.append(entry)
        self._items.append(entry)
        self.queued_bytes += len(data)
        while self.queued_bytes > self.max_bytes and self._items:
            old = self._items.popleft()
            if old.dropped:
                continue
            self._forget(old)
            self.queued_bytes -= len(old.data)
            dropped += 1
        if dropped:
            self.dropped += dropped
            self._on_drop(dropped)

    def _forget(self, entry: _Entry) -> None:
        if entry.key is not None:
            same = self._per_key[entry.key]
            same.popleft()  # queue order is per-key order: the entry leaving first is that key's oldest
            if not same:
                del self._per_key[entry.key]

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False
        self.flush()

    def flush(self) -> None:
        items = self._items
        while items and not self.paused:  # a write may pause us again (transport above its high-water mark)
            entry = items.popleft()
            if entry.dropped:
                continue
            self._forget(entry)
            self.queued_bytes -= len(entry.data)
            self.sent += 1
            self._write(entry.data, entry.binary)

    def clear(self) -> None:
        self._items.clear()
        self._per_key.clear()
        self.queued_bytes = 0
