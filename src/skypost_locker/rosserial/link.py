"""The serial link: a reader thread that opens the port, feeds bytes to a `FrameDecoder`, reconnects after errors.

It accepts any file-like port (`read(n)` returning bytes, possibly empty on a timeout; `write(data)`; `close()`):
pyserial's `Serial` on a real device or a pty, or anything a test builds. Time is `time.monotonic` (injectable):
serial-link timeouts are wall time, never ROS time. No ROS here.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from .codec import Frame, FrameDecoder, Rejected

BY_ID_DIR = Path("/dev/serial/by-id")


class Port(Protocol):
    def read(self, size: int) -> bytes: ...

    def write(self, data: bytes) -> int | None: ...

    def close(self) -> None: ...


class LinkHandler(Protocol):
    """What the link reports to (a rosserial `Session` fits)."""

    def connected(self, now: float) -> None: ...

    def disconnected(self) -> None: ...

    def frame(self, frame: Frame, now: float) -> None: ...

    def tick(self, now: float) -> None: ...


def stable_port_path(port: str, by_id_dir: Path = BY_ID_DIR) -> str:
    """The /dev/serial/by-id/... alias of `port` when there is one (a USB adapter may come back as another ttyUSBn
    after a reset; its by-id name stays), else `port` unchanged."""
    if not port or Path(port).parent == by_id_dir:
        return port
    try:
        target = os.path.realpath(port)
        for alias in sorted(by_id_dir.iterdir()):
            if os.path.realpath(alias) == target:
                return str(alias)
    except OSError:
        pass
    return port


def serial_opener(port: str, baud: int, read_timeout: float = 0.05) -> Callable[[], Port]:
    """Opens `port` with pyserial (8N1, no flow control) every time it is called."""

    def open_port() -> Port:
        import serial  # pyserial; imported here so the pure layers never need it

        return serial.Serial(port, baudrate=baud, timeout=read_timeout, write_timeout=1.0, exclusive=True)

    return open_port


@dataclass
class LinkStats:
    connects: int = 0
    disconnects: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # bytes dropped by the decoder, by reason


class SerialLink:
    """Owns the port and its reader thread; writes are thread-safe."""

    def __init__(self, opener: Callable[[], Port], handler: LinkHandler, name: str = "serial",
                 decoder: FrameDecoder | None = None, reconnect_delay: float = 1.0, tick_period: float = 0.05,
                 read_size: int = 512, clock: Callable[[], float] = time.monotonic,
                 logger: logging.Logger | None = None) -> None:
        self._opener = opener
        self.handler = handler
        self.name = name
        self.decoder = decoder or FrameDecoder()
        self.reconnect_delay = reconnect_delay
        self.tick_period = tick_period
        self.read_size = read_size
        self.clock = clock
        self.log = logger or logging.getLogger("skypost.rosserial.link")
        self.stats = LinkStats()
        self._port: Port | None = None
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_open_error = ""

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("link already started")
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-link", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0, close: bool = True) -> None:
        """Stops the reader thread; `close=False` keeps the port open for a last write (then call `close()`)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if close:
            self.close()

    def close(self) -> None:
        self._close()

    def write(self, data: bytes) -> bool:
        """Writes all of `data`; False when the port is closed or the write failed (the reader reconnects)."""
        with self._write_lock:
            port = self._port
            if port is None:
                return False
            try:
                port.write(data)
                flush = getattr(port, "flush", None)
                if flush is not None:
                    flush()
            except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
                self.log.warning("%s: write failed: %s", self.name, exc)
                return False
        self.stats.bytes_out += len(data)
        return True

    # ---------------------------------------------------------------------------------------- reader thread

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._port is None and not self._open():
                self._stop.wait(self.reconnect_delay)
                continue
            try:
                data = self._port.read(self.read_size) if self._port is not None else b""
            except (OSError, ValueError, TypeError) as exc:
                # OSError/SerialException: device gone; pyserial raises TypeError/ValueError on a closed port
                self.log.error("%s: read failed (%s): closing the port, reconnecting", self.name, exc)
                self._close()
                self.handler.disconnected()
                continue
            now = self.clock()
            if data:
                self.stats.bytes_in += len(data)
            for item in self.decoder.feed(data or b"", now):
                if isinstance(item, Frame):
                    self._deliver(item, now)
                else:
                    self._rejected(item)
            self.handler.tick(now)
            if not data and self._port is not None and not getattr(self._port, "timeout", None):
                self._stop.wait(self.tick_period)  # a port whose read returns at once when empty: do not spin

    def _deliver(self, frame: Frame, now: float) -> None:
        try:
            self.handler.frame(frame, now)
        except Exception:  # a bug in a handler must not kill the link
            self.log.exception("%s: handling a frame on topic %d failed", self.name, frame.topic)

    def _rejected(self, item: Rejected) -> None:
        self.stats.rejected[item.reason] = self.stats.rejected.get(item.reason, 0) + item.size
        self.log.debug("%s: %d bytes dropped (%s)", self.name, item.size, item.reason)

    def _open(self) -> bool:
        try:
            port = self._opener()
        except (OSError, ValueError) as exc:
            text = str(exc)
            if text != self._last_open_error:  # once per distinct error, not every retry
                self.log.warning("%s: cannot open the port (%s); retrying every %.1f s", self.name, text,
                                 self.reconnect_delay)
                self._last_open_error = text
            return False
        self._last_open_error = ""
        self.decoder.reset()
        with self._write_lock:
            self._port = port
        self.stats.connects += 1
        self.log.info("%s: port open", self.name)
        self.handler.connected(self.clock())
        return True

    def _close(self) -> None:
        with self._write_lock:
            port, self._port = self._port, None
        if port is None:
            return
        self.stats.disconnects += 1
        try:
            port.close()
        except (OSError, ValueError):
            pass
