"""clover_sim: many simulated Clover drones in one process, behind the real simple_offboard and MAVROS names.

Wiring only: the world, the flight/battery/camera models and the request semantics live in the pure modules.
The node owns /clock: one thread steps the physics at a fixed sim dt, paced at `speed`× the wall clock (rospy.Timer
cannot pace it: under /use_sim_time it would wait for the very clock this node produces).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

import rospy
from clover import srv as clover_srv
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from mavros_msgs.msg import ExtendedState, State
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import BatteryState, CameraInfo, CompressedImage, Image
from skypost.srv import InjectFault, InjectFaultRequest, InjectFaultResponse
from std_msgs.msg import Bool, String
from std_srvs.srv import Trigger, TriggerResponse

from . import messages
from .camera import CameraModel, render
from .clover import CloverApi
from .config import SimConfig
from .faults import FaultError, FaultRequest, apply_fault
from .pacing import Pacer, Schedule, SpeedMeter
from .simulation import Simulation, Snapshot

DIAGNOSTICS_PERIOD = 2.0   # wall seconds
LINK_DOWN = ("link down",)


class DroneInterfaces:
    """The ROS names of one simulated drone, under /<drone_id>/."""

    def __init__(self, drone_id: str, api: CloverApi, camera: CameraModel,
                 on_release: Callable[[str], None]) -> None:
        ns = f"/{drone_id}"
        self.drone_id = drone_id
        self.api = api
        self.camera = camera
        self._released = False
        self._last_state: tuple | None = None
        self._last_landed: int | None = None
        self._on_release = on_release
        # subscribers
        rospy.Subscriber(f"{ns}/cargo/release", Bool, self._cargo, queue_size=5)
        # publishers
        self.state_pub = rospy.Publisher(f"{ns}/mavros/state", State, queue_size=2, latch=True)
        self.battery_pub = rospy.Publisher(f"{ns}/mavros/battery", BatteryState, queue_size=2)
        self.pose_pub = rospy.Publisher(f"{ns}/mavros/local_position/pose", PoseStamped, queue_size=2)
        self.extended_pub = rospy.Publisher(f"{ns}/mavros/extended_state", ExtendedState, queue_size=2)
        self.image_pub = rospy.Publisher(f"{ns}/main_camera/image_raw", Image, queue_size=1)
        # what image_transport's compressed plugin offers on a Clover: what a browser can show cheaply
        self.jpeg_pub = rospy.Publisher(f"{ns}/main_camera/image_raw/compressed", CompressedImage, queue_size=1)
        self.info_pub = rospy.Publisher(f"{ns}/main_camera/camera_info", CameraInfo, queue_size=1)
        # service servers
        self.services = [
            rospy.Service(f"{ns}/navigate", clover_srv.Navigate, self._navigate),
            rospy.Service(f"{ns}/navigate_global", clover_srv.NavigateGlobal, self._navigate_global),
            rospy.Service(f"{ns}/set_position", clover_srv.SetPosition, self._set_position),
            rospy.Service(f"{ns}/set_velocity", clover_srv.SetVelocity, self._set_velocity),
            rospy.Service(f"{ns}/get_telemetry", clover_srv.GetTelemetry, self._get_telemetry),
            rospy.Service(f"{ns}/land", Trigger, self._land),
        ]

    # ----- services: ROS request -> CloverApi -> ROS response -------------------------------------------------
    def _navigate(self, req):
        a = self.api.navigate(req.x, req.y, req.z, req.yaw, req.speed, req.frame_id, req.auto_arm)
        return clover_srv.NavigateResponse(a.success, a.message)

    def _navigate_global(self, req):
        a = self.api.navigate_global(req.lat, req.lon, req.z, req.yaw, req.speed, req.frame_id, req.auto_arm)
        return clover_srv.NavigateGlobalResponse(a.success, a.message)

    def _set_position(self, req):
        a = self.api.set_position(req.x, req.y, req.z, req.yaw, req.frame_id, req.auto_arm)
        return clover_srv.SetPositionResponse(a.success, a.message)

    def _set_velocity(self, req):
        a = self.api.set_velocity(req.vx, req.vy, req.vz, req.yaw, req.frame_id, req.auto_arm)
        return clover_srv.SetVelocityResponse(a.success, a.message)

    def _get_telemetry(self, req):
        return messages.telemetry_response(self.api.telemetry(req.frame_id))

    def _land(self, _req):
        a = self.api.land()
        return TriggerResponse(a.success, a.message)

    def _cargo(self, msg: Bool) -> None:
        if msg.data and not self._released:   # a release is the hold -> release edge
            self._on_release(self.drone_id)
        self._released = msg.data

    # ----- topics -----------------------------------------------------------------------------------------
    def publish_pose(self, snap: Snapshot, i: int, stamp: rospy.Time) -> None:
        if snap.connected[i] and self.pose_pub.get_num_connections():
            self.pose_pub.publish(messages.pose(snap, i, stamp))

    def publish_state(self, snap: Snapshot, i: int, stamp: rospy.Time, force: bool) -> None:
        """mavros/state and extended_state on every change and at the status rate (MAVROS: each heartbeat).
        When the FCU link goes down, one last state says connected=false, as MAVROS sends it; then silence."""
        if not snap.connected[i]:
            if self._last_state != LINK_DOWN:
                self._last_state, self._last_landed = LINK_DOWN, None
                self.state_pub.publish(messages.disconnected_state(stamp))
            return
        current = (bool(snap.armed[i]), snap.mode[i])
        if force or current != self._last_state:
            self._last_state = current
            self.state_pub.publish(messages.state(*current, stamp))
        landed = messages.landed_state(snap, i)
        if (force or landed != self._last_landed) and self.extended_pub.get_num_connections():
            self._last_landed = landed
            self.extended_pub.publish(messages.extended_state(landed, stamp))

    def publish_battery(self, snap: Snapshot, i: int, stamp: rospy.Time, reading: tuple) -> None:
        if snap.connected[i] and self.battery_pub.get_num_connections():
            self.battery_pub.publish(messages.battery(reading, stamp))

    def wants_camera(self) -> bool:
        return any(pub.get_num_connections() > 0 for pub in (self.image_pub, self.jpeg_pub, self.info_pub))

    def publish_camera(self, snap: Snapshot, i: int, stamp: rospy.Time, markers: dict) -> None:
        """Renders only for someone who listens: the sightings that gate aruco_<id> frames need no picture."""
        frame_id = f"{self.drone_id}/main_camera_optical"
        raw, jpeg = self.image_pub.get_num_connections() > 0, self.jpeg_pub.get_num_connections() > 0
        if raw or jpeg:
            picture = render(self.camera, snap.position[i], float(snap.yaw[i]), markers)
            if raw:
                self.image_pub.publish(messages.image(picture, stamp, frame_id))
            if jpeg:
                self.jpeg_pub.publish(messages.compressed_image(picture, stamp, frame_id))
        if self.info_pub.get_num_connections():
            self.info_pub.publish(messages.camera_info(self.camera, stamp, frame_id))


class CloverSimNode:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.sim = Simulation(config.drone_specs(), config.world.marker_positions(), config.pads(), config.model,
                              seed=config.seed)
        for fault in config.initial_faults:
            rospy.logwarn("clover_sim: initial fault %s: %s", fault, apply_fault(self.sim, fault))
        camera = config.model.camera
        # publishers
        self.clock_pub = rospy.Publisher("/clock", Clock, queue_size=5)
        self.diagnostics_pub = rospy.Publisher("/diagnostics", DiagnosticArray, queue_size=2)
        self.arrival_pubs = {
            pad.locker_id: rospy.Publisher(f"/lockers/{pad.locker_id}/sim/parcel_arrived", String, queue_size=5)
            for pad in config.pads()
        }
        # per drone: subscribers, publishers, service servers
        self.drones = [
            DroneInterfaces(drone_id, CloverApi(self.sim, i, config.timing), camera, self._released)
            for i, drone_id in enumerate(self.sim.ids)
        ]
        self.fault_srv = rospy.Service("/sim/inject_fault", InjectFault, self._inject_fault)
        # the physics thread (see the module docstring for why not a rospy.Timer)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run_guarded, name="clover_sim_physics", daemon=True)
        self._thread.start()
        if not rospy.get_param("/use_sim_time", False) and config.speed != 1.0:
            rospy.logwarn("clover_sim: /use_sim_time is false, so other nodes ignore the %gx sim clock", config.speed)
        rospy.loginfo("clover_sim ready: %s", config.summary())

    # ----- inputs -----------------------------------------------------------------------------------------
    def _released(self, drone_id: str) -> None:
        i = self.sim.drone(drone_id)
        pad = self.sim.pad_below(i)
        if pad is None:
            position = self.sim.snapshot().position[i].round(2)
            rospy.logwarn("clover_sim: %s released its parcel away from every locker pad, at %s", drone_id, position)
            return
        rospy.loginfo("clover_sim: %s released its parcel over %s", drone_id, pad.locker_id)
        self.arrival_pubs[pad.locker_id].publish(String(drone_id))

    def _inject_fault(self, req: InjectFaultRequest) -> InjectFaultResponse:
        try:
            message = apply_fault(self.sim, FaultRequest(req.drone_id, req.fault, req.value))
        except FaultError as exc:
            rospy.logwarn("clover_sim: fault %s=%g for %s refused: %s", req.fault, req.value, req.drone_id, exc)
            return InjectFaultResponse(False, str(exc))
        rospy.logwarn("clover_sim: fault injected into %s: %s", req.drone_id, message)
        return InjectFaultResponse(True, message)

    # ----- the loop ---------------------------------------------------------------------------------------
    def _run_guarded(self) -> None:
        try:
            self._run()
        except Exception as exc:  # the sim is useless without its clock: stop loudly rather than freeze time
            rospy.logfatal("clover_sim: physics loop failed: %r", exc)
            rospy.signal_shutdown(f"physics loop failed: {exc!r}")
            raise

    def _run(self) -> None:
        c = self.config
        tick = 1.0 / c.clock_rate   # wall seconds between clock messages
        pacer = Pacer(c.speed, 1.0 / c.rate, tick, time.monotonic(), self.sim.now)
        meter = SpeedMeter(DIAGNOSTICS_PERIOD, time.monotonic(), self.sim.now)
        pose, status, camera = (Schedule.at_rate(r) for r in (c.publish_rate, c.status_rate, c.camera_rate))
        loop_cpu = 0.0
        while not self._stop.is_set() and not rospy.is_shutdown():
            started, cpu = time.monotonic(), time.thread_time()
            steps = pacer.steps(started, self.sim.now)
            for _ in range(steps):
                self.sim.step(pacer.dt)
            if steps:
                self._publish(pose, status, camera)
            loop_cpu += time.thread_time() - cpu
            sample = meter.sample(started, self.sim.now, loop_cpu)
            if sample is not None:
                self.publish_diagnostics(*sample)
            self._stop.wait(max(0.0, tick - (time.monotonic() - started)))

    def _publish(self, pose: Schedule, status: Schedule, camera: Schedule) -> None:
        snap = self.sim.snapshot()
        stamp = messages.stamp_of(snap.now)
        self.clock_pub.publish(messages.clock(stamp))
        pose_due, status_due = pose.due(snap.now), status.due(snap.now)
        for i, drone in enumerate(self.drones):
            drone.publish_state(snap, i, stamp, force=status_due)
            if pose_due:
                drone.publish_pose(snap, i, stamp)
        if status_due:
            with self.sim.lock:
                readings = [self.sim.battery.reading(i, bool(snap.flying[i])) for i in range(len(self.drones))]
            for i, drone in enumerate(self.drones):
                drone.publish_battery(snap, i, stamp, readings[i])
        if camera.due(snap.now):
            self.sim.update_sightings()
            watched = [i for i, drone in enumerate(self.drones) if drone.wants_camera()]
            if watched:
                markers = self.sim.visible_marker_positions()
                for i in watched:
                    self.drones[i].publish_camera(snap, i, stamp, markers)

    def publish_diagnostics(self, achieved_speed: float, cpu_share: float) -> None:
        c = self.config
        level = DiagnosticStatus.OK if achieved_speed >= 0.9 * c.speed else DiagnosticStatus.WARN
        message = f"{achieved_speed:.2f}x of {c.speed:g}x" + ("" if level == DiagnosticStatus.OK else
                                                               ": the machine cannot keep up")
        values = [KeyValue("drones", str(len(self.drones))), KeyValue("target_speed", f"{c.speed:g}"),
                  KeyValue("achieved_speed", f"{achieved_speed:.3f}"), KeyValue("sim_time", f"{self.sim.now:.2f}"),
                  KeyValue("loop_cpu_share", f"{cpu_share:.3f}")]
        array = DiagnosticArray(status=[DiagnosticStatus(level=level, name="clover_sim: clock", message=message,
                                                         hardware_id="clover_sim", values=values)])
        array.header.stamp = rospy.Time.from_sec(self.sim.now)
        self.diagnostics_pub.publish(array)
        if level != DiagnosticStatus.OK:
            rospy.logwarn_throttle(30, f"clover_sim: running at {message}")

    def shutdown(self) -> None:
        self._stop.set()
        self.sim.stop()   # wakes requests waiting for sim time: they answer "shutting down"
        self._thread.join(timeout=5.0)

