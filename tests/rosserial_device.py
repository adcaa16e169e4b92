"""Test helper: a Python rosserial DEVICE on a pseudo-terminal, speaking the device side of our codec.

The host under test opens `device.port` (the pty's slave) like a USB serial port. The device answers topic requests
with its TopicInfo list, asks for the time, publishes on demand and records what the host sent. `unplug()` closes
the pty (the host sees the port vanish); a new FakeDevice can then come up on a symlink at the same path.
"""
from __future__ import annotations

import os
import select
import threading
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from skypost_locker.rosserial.codec import (
    Frame,
    FrameDecoder,
    LogRecord,
    TopicId,
    TopicInfo,
    encode_frame,
)


@dataclass
class DeviceTopic:
    info: TopicInfo
    publisher: bool  # True: device -> host


@dataclass
class Received:
    frames: list[Frame] = field(default_factory=list)
    topic_requests: int = 0
    time_replies: int = 0
    tx_stops: int = 0


class FakeDevice:
    def __init__(self, topics: list[DeviceTopic], link: Path | None = None, answer_requests: bool = True,
                 on_frame: Callable[[Frame], None] | None = None) -> None:
        self.topics = topics
        self.answer_requests = answer_requests
        self.on_frame = on_frame  # called (on the reader thread) for every frame the host sent
        self.received = Received()
        self.changed = threading.Condition()
        self._master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, before the host opens it
        self._slave = slave  # kept open so the pty lives until unplug()
        self.pty = os.ttyname(slave)
        self.link = link
        if link is not None:
            if link.is_symlink():
                link.unlink()
            link.symlink_to(self.pty)
        self.port = str(link) if link is not None else self.pty
        self._decoder = FrameDecoder()
        self._write_lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._read, name="fake-device", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------------------- what a test does

    def send(self, topic: int, payload: bytes = b"") -> None:
        self.write(encode_frame(topic, payload))

    def write(self, data: bytes) -> None:
        with self._write_lock:
            if self._stopped.is_set():
                return  # unplugged: bytes go nowhere, as on a pulled cable
            os.write(self._master, data)

    def log(self, level: int, text: str) -> None:
        self.send(TopicId.LOG, LogRecord(level, text).serialize())

    def request_time(self) -> None:
        self.send(TopicId.TIME, bytes(8))

    def frames_on(self, topic: int) -> list[Frame]:
        with self.changed:
            return [f for f in self.received.frames if f.topic == topic]

    def unplug(self) -> None:
        with self._write_lock:
            self._stopped.set()
        self._thread.join(5.0)
        for fd in (self._master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()

    # ---------------------------------------------------------------------------- device side

    def _announce(self) -> None:
        for topic in self.topics:
            endpoint = TopicId.PUBLISHER if topic.publisher else TopicId.SUBSCRIBER
            self.send(endpoint, topic.info.serialize())
        self.request_time()

    def _read(self) -> None:
        while not self._stopped.is_set():
            if not select.select([self._master], [], [], 0.05)[0]:
                continue
            try:
                data = os.read(self._master, 512)
            except OSError:
                return
            if not data:
                return
            for item in self._decoder.feed(data):
                if isinstance(item, Frame):
                    self._handle(item)

    def _handle(self, frame: Frame) -> None:
        with self.changed:
            self.received.frames.append(frame)
            if frame.topic == TopicId.PUBLISHER:
                self.received.topic_requests += 1
            elif frame.topic == TopicId.TIME:
                self.received.time_replies += 1
            elif frame.topic == TopicId.TX_STOP:
                self.received.tx_stops += 1
            self.changed.notify_all()
        if frame.topic == TopicId.PUBLISHER and self.answer_requests:
            self._announce()
        if self.on_frame is not None:
            self.on_frame(frame)
