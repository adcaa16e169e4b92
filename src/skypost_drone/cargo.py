"""Cargo release drivers: a servo on a Raspberry Pi GPIO through pigpio, or a topic in simulation."""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class CargoRelease(Protocol):
    def release(self) -> None: ...
    def hold(self) -> None: ...
    def close(self) -> None: ...


class TopicCargo:
    """Simulation: publishes true on cargo/release (the simulator drops the parcel)."""

    def __init__(self, publish: Callable[[bool], None]) -> None:
        self._publish = publish

    def release(self) -> None:
        self._publish(True)

    def hold(self) -> None:
        self._publish(False)

    def close(self) -> None:
        self.hold()


class PigpioServo:
    """A hobby servo holding the parcel hook; pulse widths 1000-2000 µs as pigpio expects."""

    def __init__(self, gpio: int, hold_us: int = 1000, release_us: int = 2000) -> None:
        for name, value in (("hold_us", hold_us), ("release_us", release_us)):
            if not 1000 <= value <= 2000:
                raise ValueError(f"{name} must be within 1000-2000 µs, got {value}")
        import pigpio  # only on the drone's Raspberry Pi

        self._pi = pigpio.pi()
        if not self._pi.connected:
            raise RuntimeError("pigpiod is not running: cannot drive the cargo servo")
        self._gpio, self._hold, self._release = gpio, hold_us, release_us
        self.hold()

    def release(self) -> None:
        self._pi.set_servo_pulsewidth(self._gpio, self._release)

    def hold(self) -> None:
        self._pi.set_servo_pulsewidth(self._gpio, self._hold)

    def close(self) -> None:
        self._pi.set_servo_pulsewidth(self._gpio, 0)   # stop the pulses: the servo rests
        self._pi.stop()
