"""Calls to Clover's simple_offboard: a deadline on every call, "Busy" answers and lost calls retried.

No rospy here: the node hands in one callable per service (a rospy.ServiceProxy), tests hand in fakes.
rospy cannot time out a service call by itself, so each call runs on a short-lived daemon thread and the caller
stops waiting at the deadline (a call that never returns leaves only that thread behind).
"""
from __future__ import annotations

import math
import threading
from collections.abc import Callable, Mapping
from typing import Any

SERVICES = ("navigate", "get_telemetry", "land")


class CloverError(RuntimeError):
    """A Clover call failed for good: refused, timed out or the service is gone (after the retries)."""


def is_busy(response: Any) -> bool:
    """simple_offboard answers "Busy" while it handles another request: worth asking again."""
    return not getattr(response, "success", True) and "busy" in str(getattr(response, "message", "")).lower()


class CloverClient:
    def __init__(self, services: Mapping[str, Callable[..., Any]], timeout: float, retries: int,
                 backoff: float = 0.05, stop: threading.Event | None = None) -> None:
        missing = [name for name in SERVICES if name not in services]
        if missing:
            raise ValueError(f"Clover services missing: {missing}")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be > 0 and retries >= 0")
        self._services = dict(services)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._stop = stop or threading.Event()
        self.calls = 0      # every attempt, for diagnostics
        self.failures = 0   # attempts that timed out, raised or were busy

    def _once(self, name: str, kwargs: dict[str, Any]) -> Any:
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["response"] = self._services[name](**kwargs)
            except Exception as exc:  # the transport or the server failed: a failed call
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name=f"clover_{name}", daemon=True).start()
        self.calls += 1
        if not done.wait(self.timeout):
            raise CloverError(f"{name}: no answer within {self.timeout:.1f} s")
        if "error" in box:
            raise CloverError(f"{name}: {box['error']}")
        return box["response"]

    def call(self, name: str, **kwargs: Any) -> Any:
        """The service's response; raises CloverError when every attempt timed out or failed. A "Busy" answer
        that outlasts the retries is returned as it is (success=false)."""
        last_error: CloverError | None = None
        for attempt in range(self.retries + 1):
            if attempt and self._stop.wait(self.backoff * attempt):
                break   # shutting down
            try:
                response = self._once(name, kwargs)
            except CloverError as exc:
                self.failures += 1
                last_error = exc
                continue
            if is_busy(response) and attempt < self.retries:
                self.failures += 1
                continue
            return response
        raise last_error or CloverError(f"{name}: interrupted by shutdown")

    def navigate(self, x: float, y: float, z: float, frame_id: str, speed: float, auto_arm: bool = False,
                 yaw: float = math.nan) -> None:
        response = self.call("navigate", x=x, y=y, z=z, yaw=yaw, speed=speed, frame_id=frame_id, auto_arm=auto_arm)
        if not response.success:
            raise CloverError(f"navigate to ({x:.2f}, {y:.2f}, {z:.2f}) in {frame_id} refused: {response.message}")

    def telemetry(self, frame_id: str = "map") -> Any:
        return self.call("get_telemetry", frame_id=frame_id)

    def land(self) -> None:
        response = self.call("land")
        if not response.success:
            raise CloverError(f"land refused: {response.message}")
