"""The bridge node: the event loop (uvloop) on its own thread, the WebSocket server on it, the ROS side in rospy's
threads and a worker pool. Publishes the port it really bound (param ~actual_port and a latched topic)."""
from __future__ import annotations

import asyncio
import concurrent.futures
import sys
import threading
import warnings

import rospy
from std_msgs.msg import UInt16

from skypost_bridge.config import BridgeConfig, describe
from skypost_bridge.ros_backend import RosBackend
from skypost_bridge.server import BridgeServer

START_TIMEOUT = 30.0
GIL_SWITCH_INTERVAL = 0.0005  # s; rospy threads and the loop hand messages to each other: keep hand-offs short


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # the plain loop works, only slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class BridgeNode:
    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        sys.setswitchinterval(GIL_SWITCH_INTERVAL)
        # the bridge's own writer threads replace rospy's per-message queue (see ros_backend.PublisherHandle)
        warnings.filterwarnings("ignore", message=".*explicit keyword argument 'queue_size'")
        self.loop = _new_loop()
        self.workers = concurrent.futures.ThreadPoolExecutor(config.workers, thread_name_prefix="bridge-worker")
        self.backend = RosBackend(config, self.loop, self.workers)
        self.server = BridgeServer(config, self.backend, self.loop)
        self._thread = threading.Thread(target=self._run_loop, name="bridge-loop", daemon=True)
        self._thread.start()
        port = asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(START_TIMEOUT)
        rospy.set_param("~actual_port", port)
        self.port_publisher = rospy.Publisher("~actual_port", UInt16, queue_size=1, latch=True)
        self.port_publisher.publish(UInt16(port))
        if config.locked:
            rospy.logerr("bridge: auth_required is true but no secret is set (~auth_secret, ~auth_secret_file or "
                         "SKYPOST_BRIDGE_SECRET): every client will be refused")
        if config.address not in ("127.0.0.1", "localhost", "::1"):
            rospy.logwarn("bridge: listening on %s, not only loopback", config.address)
        rospy.loginfo("bridge: ready on port %d: %s", port, describe(config))

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def shutdown(self) -> None:
        if self.loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10.0)
        except (concurrent.futures.TimeoutError, RuntimeError) as exc:
            rospy.logwarn("bridge: closing clients: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.backend.shutdown()
        self.workers.shutdown(wait=False, cancel_futures=True)
