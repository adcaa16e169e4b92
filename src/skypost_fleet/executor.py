"""Run jobs on a few worker threads, strictly in order per key (a delivery), never blocking the caller.

The fleet core emits actions for a delivery in the order they must happen (release this cell, then reserve
that one); different deliveries proceed in parallel. A slow locker delays only the deliveries that use it.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class KeyedSerialExecutor:
    def __init__(self, workers: int = 4, name: str = "fleet-worker") -> None:
        self._queues: dict[str, deque[Callable[[], None]]] = {}
        self._ready: deque[str] = deque()  # keys with jobs and no worker on them
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
            for i in range(max(1, workers))
        ]
        for t in self._threads:
            t.start()

    def submit(self, key: str, job: Callable[[], None]) -> None:
        with self._cond:
            if self._stopping:
                return
            queue = self._queues.get(key)
            if queue is None:
                self._queues[key] = deque([job])
                self._ready.append(key)
                self._cond.notify()
            else:
                queue.append(job)  # a worker owns this key and will get to it

    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values())

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key = self._ready.popleft()
                job = self._queues[key][0]
            try:
                job()
            except Exception:  # a job's failure must not kill the worker; jobs report their own errors
                log.exception("job for %s failed", key)
            with self._cond:
                queue = self._queues[key]
                queue.popleft()
                if queue:
                    self._ready.append(key)
                    self._cond.notify()
                else:
                    del self._queues[key]
