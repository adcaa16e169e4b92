"""drone_node: serves the Deliver action for one Clover and flies it through simple_offboard.

Threads: ROS callbacks only store inputs or queue events; one mission thread per accepted goal runs the loop
(events → mission → actions, then progress checks); timers publish the state and diagnostics. The mission
machine itself (`mission.py`) decides; this file only senses and acts.
"""
from __future__ import annotations

import collections
import math
import threading

import actionlib
import numpy as np
import rospy
from clover.srv import GetTelemetry, Navigate
from cv_bridge import CvBridge, CvBridgeError
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Pose, PoseStamped
from mavros_msgs.msg import ExtendedState
from mavros_msgs.msg import State as MavState
from sensor_msgs.msg import BatteryState, CameraInfo, Image
from skypost.msg import DeliverAction, DeliverFeedback, DeliverResult, DroneState, FleetSummary
from skypost.srv import DropControl, DropControlRequest, DropControlResponse
from std_msgs.msg import Bool
from std_srvs.srv import Trigger

from skypost_common.world import World

from .approach import Approach, ApproachConfig, Step
from .battery import BatteryReading
from .cargo import CargoRelease, PigpioServo, TopicCargo
from .clover_client import CloverClient, CloverError
from .config import DroneConfig
from .goal import GoalSpec, goal_problem
from .leg import Leg
from .marker import find_marker, marker_in_map, yaw_of
from .mission import Action, Event, InvalidTransitionError, Mission, Outcome, State

APPROACH_SPEED = 0.5        # m/s while searching for and descending onto the marker
CORRECTION_M = 0.15         # map approach: re-aim when the marker is this far from the current setpoint
CORRECTION_PERIOD_S = 1.0   # ... at most this often
LAND_REPEAT_S = 2.0         # ask for a landing again this often while the autopilot is not landing
DROP_EVENTS = {
    DropControlRequest.CELL_OPENED: Event.CELL_OPENED,
    DropControlRequest.DROP_CONFIRMED: Event.DROP_CONFIRMED,
    DropControlRequest.DROP_UNCONFIRMED: Event.DROP_UNCONFIRMED,
    DropControlRequest.CELL_FAILED: Event.CELL_FAILED,
}
ARRIVAL = {State.TAKEOFF: Event.TAKEOFF_DONE, State.NAVIGATING: Event.ARRIVED, State.RETURNING: Event.ARRIVED_BASE}
ZERO = rospy.Time(0)


class DroneNode:
    def __init__(self, config: DroneConfig, world: World | None) -> None:
        self.config = config
        self.world = world
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.events: collections.deque[Event] = collections.deque()
        self.handle: actionlib.ServerGoalHandle | None = None
        self.goal = None
        self.mission: Mission | None = None
        self.cancel_requested = False
        self.leg: Leg | None = None
        self.battery = BatteryReading.unknown()
        self.battery_events: set[Event] = set()
        self.mav_state = MavState()
        self.landed_state = ExtendedState.LANDED_STATE_UNDEFINED
        self.pose = Pose()
        self.pose.orientation.w = 1.0
        self.pose_stamp = ZERO
        self.speed = 0.0
        self.takeoff_target: np.ndarray | None = None
        self.fleet_seen: rospy.Time | None = None
        self.link_lost = False
        self.camera_matrix: np.ndarray | None = None
        self.dist_coeffs: np.ndarray | None = None
        self.camera_sub: rospy.Subscriber | None = None
        self.approach = self._new_approach()
        self.corrected_at = 0.0
        self.hover_deadline = ZERO
        self.drop_deadline = ZERO
        self.land_asked = ZERO
        self.message = "ready"   # the last notable thing, for people
        self.detail = ""         # why the next transition happens (low battery, stuck, ...)
        self.reason = ""         # the text of the transition that decided the outcome: the result's message
        self.bridge = CvBridge()
        self.ns = config.clover_ns.rstrip("/")
        ns = self.ns

        # service clients
        self.clover = CloverClient({
            "navigate": rospy.ServiceProxy(f"{ns}/navigate", Navigate),
            "get_telemetry": rospy.ServiceProxy(f"{ns}/get_telemetry", GetTelemetry),
            "land": rospy.ServiceProxy(f"{ns}/land", Trigger),
        }, config.service_timeout, config.busy_retries, stop=self.stop)
        # subscribers (the camera only while looking for the pad: images are the biggest messages we get)
        rospy.Subscriber(f"{ns}/mavros/state", MavState, self._on_mav_state, queue_size=1)
        rospy.Subscriber(f"{ns}/mavros/extended_state", ExtendedState, self._on_extended_state, queue_size=1)
        rospy.Subscriber(f"{ns}/mavros/battery", BatteryState, self._on_battery, queue_size=1)
        rospy.Subscriber(f"{ns}/mavros/local_position/pose", PoseStamped, self._on_pose, queue_size=1)
        rospy.Subscriber(f"{ns}/main_camera/camera_info", CameraInfo, self._on_camera_info, queue_size=1)
        rospy.Subscriber("/fleet/summary", FleetSummary, self._on_fleet, queue_size=1)
        # publishers
        self.state_pub = rospy.Publisher("state", DroneState, queue_size=5, latch=True)
        self.diag_pub = rospy.Publisher("/diagnostics", DiagnosticArray, queue_size=5)
        self.cargo = self._make_cargo(ns)
        # service servers and the action (one goal at a time: a second goal is rejected, never preempts)
        self.drop_srv = rospy.Service("drop_control", DropControl, self._on_drop_control)
        self.server = actionlib.ActionServer("deliver", DeliverAction, self._on_goal, self._on_cancel,
                                             auto_start=False)
        self.server.start()
        # timers
        self.state_timer = rospy.Timer(rospy.Duration(1.0 / config.state_rate), lambda _e: self.publish_state())
        self.diag_timer = rospy.Timer(rospy.Duration(1.0), lambda _e: self.publish_diagnostics())
        rospy.loginfo("drone_node %s ready: clover at '%s', world %s, %s", config.drone_id, ns or "/",
                      "loaded" if world else "not used", config)

    def _make_cargo(self, ns: str) -> CargoRelease:
        if self.config.cargo_driver == "pigpio":
            return PigpioServo(self.config.cargo_gpio, self.config.cargo_hold_us, self.config.cargo_release_us)
        pub = rospy.Publisher(f"{ns}/cargo/release", Bool, queue_size=2, latch=True)
        return TopicCargo(lambda released: pub.publish(Bool(released)))

    # ----- inputs --------------------------------------------------------------------------------------------
    def _on_mav_state(self, msg: MavState) -> None:
        self.mav_state = msg

    def _on_extended_state(self, msg: ExtendedState) -> None:
        self.landed_state = msg.landed_state

    def _on_battery(self, msg: BatteryState) -> None:
        self.battery = BatteryReading.from_mavros(msg.percentage, msg.voltage, msg.cell_voltage)

    def _on_pose(self, msg: PoseStamped) -> None:
        now = rospy.Time.now()
        dt = (now - self.pose_stamp).to_sec() if self.pose_stamp != ZERO else 0.0
        if dt > 0:
            a, b = self.pose.position, msg.pose.position
            self.speed = math.hypot(b.x - a.x, b.y - a.y) / dt
        self.pose = msg.pose
        self.pose_stamp = now

    def _on_fleet(self, _msg: FleetSummary) -> None:
        self.fleet_seen = rospy.Time.now()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self.camera_matrix = np.array(msg.K, dtype=float).reshape(3, 3)
        self.dist_coeffs = np.array(msg.D, dtype=float) if len(msg.D) in (4, 5, 8, 12, 14) else None

    def _on_image(self, msg: Image) -> None:
        goal, mission = self.goal, self.mission
        if goal is None or mission is None or mission.state != State.APPROACH:
            return
        try:
            image = self.bridge.imgmsg_to_cv2(msg, desired_encoding="mono8")
        except CvBridgeError as exc:
            rospy.logwarn_throttle(10, f"{self.config.drone_id}: camera image not usable: {exc}")
            return
        altitude = self.pose.position.z - goal.target.z
        sighting = find_marker(image, goal.marker_id, self.camera_matrix, altitude, self.config.marker_size,
                               self.dist_coeffs)
        if sighting is not None:
            self.approach.saw(sighting, (msg.header.stamp or rospy.Time.now()).to_sec())

    def _on_drop_control(self, req: DropControlRequest) -> DropControlResponse:
        event = DROP_EVENTS.get(req.event)
        if event is None:
            return DropControlResponse(False, f"unknown drop event {req.event}")
        with self.lock:
            goal, mission = self.goal, self.mission
            if goal is None or mission is None or mission.terminal:
                return DropControlResponse(False, "no delivery in progress")
            if req.delivery_id != goal.delivery_id:
                return DropControlResponse(False, f"delivery '{req.delivery_id}' is not the active one "
                                                  f"('{goal.delivery_id}')")
            if not mission.accepts(event):
                return DropControlResponse(False, f"{event.value} not expected in {mission.state.name}")
            self.events.append(event)
        rospy.loginfo("%s: drop_control %s for %s accepted", self.config.drone_id, event.value, req.delivery_id)
        return DropControlResponse(True, f"{event.value} accepted in {mission.state.name}")

    # ----- the action ----------------------------------------------------------------------------------------
    def _on_goal(self, handle: actionlib.ServerGoalHandle) -> None:
        goal = handle.get_goal()
        with self.lock:
            problem = self._refusal(goal)
            if problem is None:
                self.handle, self.goal = handle, goal
                self.mission = Mission(self.config.failsafe_policy())
                self.cancel_requested = False
                self.events.clear()
                self.battery_events.clear()
                self.approach = self._new_approach()
                self.leg = None
                self.takeoff_target = None
                self.detail, self.reason = "", ""
                self.message = f"delivery {goal.delivery_id} accepted"
        if problem is not None:
            rospy.logwarn("%s: goal %s rejected: %s", self.config.drone_id, goal.delivery_id, problem)
            handle.set_rejected(DeliverResult(outcome=DeliverResult.ABORTED, final_state=self._state(),
                                              message=problem), problem)
            return
        handle.set_accepted(self.message)
        threading.Thread(target=self._run, name=f"mission_{goal.delivery_id}", daemon=True).start()

    def _refusal(self, goal) -> str | None:
        if self.handle is not None:
            return f"busy with delivery {self.goal.delivery_id}"
        if self.mission is not None and self.mission.state == State.EMERGENCY_LAND:
            return "emergency-landed away from its base: recover the drone, then restart its node"
        if self.mission is not None and not self.mission.terminal:
            return f"the last mission stopped unfinished in {self.mission.state.name}: restart the node"
        problem = goal_problem(GoalSpec.from_msg(goal), self.world)
        if problem is not None:
            return problem
        if self.pose_stamp == ZERO:
            return "no position from the autopilot yet"
        if self.mav_state.armed:
            return "the drone is armed without a mission"
        return None

    def _on_cancel(self, handle: actionlib.ServerGoalHandle) -> None:
        with self.lock:
            if self.handle is not None and handle.get_goal_id().id == self.handle.get_goal_id().id:
                self.cancel_requested = True

    def _run(self) -> None:
        mission, goal = self.mission, self.goal
        rospy.loginfo("%s: delivery %s to %s (marker %d), base %s", self.config.drone_id, goal.delivery_id,
                      goal.locker_id, goal.marker_id, goal.base_id)
        cancel_applied = False
        rate = rospy.Rate(self.config.loop_rate)
        try:
            self._apply(Event.TASK_ASSIGNED)
            while not mission.terminal and not rospy.is_shutdown():
                if self.cancel_requested and not cancel_applied:
                    cancel_applied = True
                    self._note("cancelled by the fleet")
                    self._apply(Event.CANCEL)
                self._tick()
                self._feedback()
                rate.sleep()
            self._finish()
        except rospy.ROSInterruptException:
            rospy.logwarn("%s: shut down during delivery %s in %s", self.config.drone_id, goal.delivery_id,
                          mission.state.name)
        except Exception as exc:   # a bug must not leave the goal hanging: report it, refuse further goals
            rospy.logerr("%s: mission thread failed in %s: %r", self.config.drone_id, mission.state.name, exc,
                         exc_info=True)
            handle, self.message = self.handle, f"internal error in {mission.state.name}: {exc!r}"
            with self.lock:
                self.handle, self.goal = None, None
            handle.set_aborted(DeliverResult(outcome=DeliverResult.ABORTED, parcel_released=mission.parcel_released,
                                             final_state=mission.state, message=self.message), self.message)

    def _finish(self) -> None:
        mission, handle = self.mission, self.handle
        self._close_camera()
        if self.mav_state.armed:
            self._wait_on_ground()
        self.cargo.hold()
        outcome = mission.final_outcome()
        result = DeliverResult(outcome=outcome, parcel_released=mission.parcel_released,
                               final_state=mission.state, message=self.reason or self.message)
        rospy.loginfo("%s: delivery %s ended %s in %s: %s", self.config.drone_id, self.goal.delivery_id,
                      outcome.name, mission.state.name, result.message)
        with self.lock:   # free for the next goal before the fleet hears the result
            self.handle, self.goal, self.leg = None, None, None
            if mission.state != State.EMERGENCY_LAND and not self.mav_state.armed:
                self.mission = None   # on the ground at its base (or never left): IDLE
        self.publish_state()
        if outcome == Outcome.CANCELLED and self.cancel_requested:
            handle.set_canceled(result, result.message)
        elif outcome in (Outcome.DELIVERED, Outcome.DELIVERED_UNCONFIRMED):
            handle.set_succeeded(result, result.message)
        else:
            handle.set_aborted(result, result.message)

    def _wait_on_ground(self) -> None:
        """A mission that ended in the air (landing here, aborted take-off) reports once the drone is down."""
        deadline = rospy.Time.now() + rospy.Duration(self.config.landing_timeout)
        rate = rospy.Rate(self.config.loop_rate)
        while self.mav_state.armed and rospy.Time.now() < deadline and not rospy.is_shutdown():
            self._keep_landing()
            rate.sleep()
        if self.mav_state.armed:
            self.reason = (self.reason or self.message) + (f"; still armed {self.config.landing_timeout:.0f} s "
                                                           "after the landing command")

    def _keep_landing(self) -> None:
        now = rospy.Time.now()
        if self.mav_state.mode == "AUTO.LAND" or (now - self.land_asked).to_sec() < LAND_REPEAT_S:
            return
        self.land_asked = now
        try:
            self.clover.land()
        except CloverError as exc:
            rospy.logwarn_throttle(5, f"{self.config.drone_id}: {exc}")

    # ----- one loop step -------------------------------------------------------------------------------------
    def _tick(self) -> None:
        for event in self._watch():
            self._apply(event)
            if self.mission.terminal:
                return
        while self.events:
            self._apply(self.events.popleft())
            if self.mission.terminal:
                return
        event = self._progress()
        if event is not None:
            self._apply(event)

    def _watch(self) -> list[Event]:
        """Conditions the failsafe policy answers: battery (only when known) and the fleet link."""
        found = []
        b = self.battery
        if b.known:
            if b.percentage < self.config.critical_battery and Event.CRITICAL_BATTERY not in self.battery_events:
                found.append(Event.CRITICAL_BATTERY)
                self._note(f"critical battery {b.percentage:.0%}")
            elif b.percentage < self.config.low_battery and Event.LOW_BATTERY not in self.battery_events:
                found.append(Event.LOW_BATTERY)
                self._note(f"low battery {b.percentage:.0%}")
        self.battery_events.update(found)
        if self.config.fleet_link_timeout > 0 and self.fleet_seen is not None:
            silent = (rospy.Time.now() - self.fleet_seen).to_sec() > self.config.fleet_link_timeout
            if silent != self.link_lost:
                self.link_lost = silent
                found.append(Event.LINK_LOST if silent else Event.LINK_RESTORED)
                self._note(f"fleet silent for {self.config.fleet_link_timeout:.0f} s" if silent
                           else "fleet link restored")
        return found

    def _note(self, text: str) -> None:
        """Why the next transition happens (also the state's message)."""
        self.detail = self.message = text

    def _apply(self, event: Event) -> None:
        mission = self.mission
        try:
            with self.lock:
                decided = mission.outcome
                transition = mission.handle(event)
        except InvalidTransitionError as exc:
            rospy.logwarn("%s: %s", self.config.drone_id, exc)
            return
        if transition.source == transition.target:
            text = f"{event.value} in {transition.target.name}"
        else:
            text = f"{event.value}: {transition.source.name} -> {transition.target.name}"
        if self.detail:
            text, self.detail = f"{self.detail} ({text})", ""
        if mission.outcome != decided or transition.target == State.EMERGENCY_LAND:
            self.reason = text   # this transition decided (or, a late confirmation, upgraded) how the mission ends
        if transition.source != transition.target:
            rospy.loginfo("%s: %s --%s--> %s (%s)", self.config.drone_id, transition.source.name, event.value,
                          transition.target.name, transition.action.value)
            self.message = text
            if transition.source == State.APPROACH:
                self._close_camera()
        self._perform(transition.action)
        self.publish_state()

    def _perform(self, action: Action) -> None:
        handler = {
            Action.PREFLIGHT: self._preflight,
            Action.TAKE_OFF: self._take_off,
            Action.FLY_TO_LOCKER: self._fly_to_locker,
            Action.SEARCH_MARKER: self._search_marker,
            Action.DESCEND_ON_MARKER: self._descend_on_marker,
            Action.HOVER: self._hover,
            Action.RELEASE: self._release,
            Action.FLY_HOME: self._fly_home,
            Action.LAND: self._land,
            Action.LAND_HERE: self._land,
            Action.RETRY_NAVIGATION: self._retry,
        }.get(action)
        if handler is None:
            return
        try:
            handler()
        except CloverError as exc:
            rospy.logwarn("%s: %s", self.config.drone_id, exc)
            self._note(str(exc))
            if action not in (Action.LAND, Action.LAND_HERE):   # a landing is asked again until it happens
                self.events.append(Event.NAVIGATION_FAILED)

    # ----- actions -------------------------------------------------------------------------------------------
    def _preflight(self) -> None:
        try:
            telemetry = self.clover.telemetry("map")
            problem = None if telemetry.connected else "autopilot not connected"
        except CloverError as exc:
            problem = f"no telemetry: {exc}"
        problem = problem or self.battery.preflight_problem(self.config.preflight_min_battery)
        if problem:
            self._note(f"preflight failed: {problem}")
            self.events.append(Event.PREFLIGHT_FAILED)
        else:
            self.events.append(Event.PREFLIGHT_OK)

    def _position(self) -> np.ndarray:
        p = self.pose.position
        return np.array([p.x, p.y, p.z])

    def _set_leg(self, target: np.ndarray, frame_id: str, speed: float) -> None:
        self.leg = Leg.start(target, frame_id, rospy.Time.now().to_sec(), self._position(), speed,
                             self.config.leg_timeout_margin)

    def _navigate(self, target: np.ndarray, frame_id: str, speed: float, auto_arm: bool = False,
                  map_target: np.ndarray | None = None) -> None:
        self.clover.navigate(*(float(v) for v in target), frame_id, speed=speed, auto_arm=auto_arm)
        self._set_leg(target if map_target is None else map_target, frame_id, speed)

    def _take_off(self) -> None:
        up = np.array([0.0, 0.0, self.config.cruise_altitude])
        if self.takeoff_target is None or not self.mav_state.armed:
            self.takeoff_target = self._position() + up
            self._navigate(up, "body", speed=1.0, auto_arm=True, map_target=self.takeoff_target)
        else:   # a retry half-way up: the same point, not cruise_altitude above wherever the drone is now
            self._navigate(self.takeoff_target, "map", speed=1.0, auto_arm=True)

    def _fly_to_locker(self) -> None:
        t = self.goal.target
        self._navigate(np.array([t.x, t.y, t.z + self.config.cruise_altitude]), "map", self.config.speed)

    def _search_marker(self) -> None:
        t = self.goal.target
        self.approach.search()
        self._open_camera()
        self._navigate(np.array([t.x, t.y, t.z + self.config.search_altitude]), "map", APPROACH_SPEED)

    def _descend_on_marker(self) -> None:
        t = self.goal.target
        pad = np.array([t.x, t.y, t.z + self.config.approach_altitude])
        self.approach.descend()
        self.corrected_at = rospy.Time.now().to_sec()
        if self.config.approach_frame == "aruco":
            # Clover's own marker detector keeps aruco_<id> up to date while the drone descends
            above = np.array([0.0, 0.0, self.config.approach_altitude])
            self._navigate(above, f"aruco_{self.goal.marker_id}", APPROACH_SPEED, map_target=pad)
        else:
            self._navigate(self._marker_setpoint(pad), "map", APPROACH_SPEED)

    def _marker_setpoint(self, fallback: np.ndarray) -> np.ndarray:
        """Above the marker where our own pose estimate puts it (the pad's nominal position without one)."""
        sighting = self.approach.sighting
        if sighting is None:
            return fallback
        o, p = self.pose.orientation, self._position()
        mx, my, _ = marker_in_map(tuple(p), yaw_of(o.x, o.y, o.z, o.w), sighting)
        return np.array([mx, my, fallback[2]])

    def _hover(self) -> None:
        self.leg = None
        self.hover_deadline = rospy.Time.now() + rospy.Duration(self.config.cell_open_timeout)

    def _release(self) -> None:
        self.cargo.release()
        self.drop_deadline = rospy.Time.now() + rospy.Duration(self.config.drop_confirm_timeout)

    def _fly_home(self) -> None:
        b = self.goal.base
        self._navigate(np.array([b.x, b.y, b.z + self.config.cruise_altitude]), "map", self.config.speed)

    def _land(self) -> None:
        self.leg = None
        if not self.mav_state.armed:
            return   # still on the ground (an aborted take-off): nothing to land
        self.land_asked = rospy.Time.now()
        self.clover.land()

    def _retry(self) -> None:
        retry = {
            State.TAKEOFF: self._take_off,
            State.NAVIGATING: self._fly_to_locker,
            State.APPROACH: self._search_marker,
            State.RETURNING: self._fly_home,
            State.LANDING: self._land,
        }.get(self.mission.state)
        if retry is not None:
            rospy.sleep(0.5)   # give a refusing autopilot a moment
            retry()

    def _open_camera(self) -> None:
        if self.camera_sub is None:
            self.camera_sub = rospy.Subscriber(f"{self.ns}/main_camera/image_raw", Image, self._on_image,
                                               queue_size=1, buff_size=2**22)

    def _close_camera(self) -> None:
        if self.camera_sub is not None:
            self.camera_sub.unregister()
            self.camera_sub = None

    # ----- progress: what the world says happened ------------------------------------------------------------
    def _measure(self, now: float) -> None:
        """Distance to the setpoint as the autopilot sees it: get_telemetry(frame_id="navigate_target")."""
        leg = self.leg
        if leg is None or not leg.due(now, self.config.arrival_check_period):
            return
        try:
            t = self.clover.telemetry("navigate_target")
        except CloverError as exc:
            rospy.logwarn_throttle(5, f"{self.config.drone_id}: {exc}")
            return
        if t.connected:   # while the FCU is silent every value is NaN: unknown, not progress
            leg.update(math.sqrt(t.x * t.x + t.y * t.y + t.z * t.z), now)

    def _leg_reached(self, now: float) -> bool:
        self._measure(now)
        return self.leg is not None and self.leg.reached(self.config.arrival_tolerance)

    def _leg_trouble(self, now: float) -> str | None:
        leg = self.leg
        return None if leg is None else leg.trouble(now, self.config.arrival_tolerance, self.config.stuck_timeout)

    def _progress(self) -> Event | None:
        state = self.mission.state
        stamp = rospy.Time.now()
        now = stamp.to_sec()
        if state in ARRIVAL:
            if self._leg_reached(now):
                return ARRIVAL[state]
            trouble = self._leg_trouble(now)
            if trouble:
                self._note(trouble)
                return Event.NAVIGATION_FAILED
        elif state == State.APPROACH:
            return self._approach_progress(now)
        elif state == State.WAITING_DROP and stamp > self.hover_deadline:
            self._note(f"no cell opened within {self.config.cell_open_timeout:.0f} s")
            return Event.CELL_TIMEOUT
        elif state == State.DROPPED and stamp > self.drop_deadline:
            self._note(f"nothing confirmed the drop within {self.config.drop_confirm_timeout:.0f} s")
            return Event.DROP_TIMEOUT
        elif state == State.LANDING:
            if self._on_ground():
                return Event.LANDED
            self._keep_landing()
        return None

    def _on_ground(self) -> bool:
        return not self.mav_state.armed and self.landed_state in (ExtendedState.LANDED_STATE_UNDEFINED,
                                                                  ExtendedState.LANDED_STATE_ON_GROUND)

    def _new_approach(self) -> Approach:
        c = self.config
        return Approach(ApproachConfig(c.marker_search_timeout, c.marker_lost_timeout, c.approach_attempts,
                                       c.acceptance_radius))

    def _approach_progress(self, now: float) -> Event | None:
        if self.approach.descending and self.config.approach_frame == "map":
            self._correct_approach(now)
        step = self.approach.step(now, self._leg_reached(now), self._leg_trouble(now))
        if step == Step.ACQUIRED:
            return Event.MARKER_ACQUIRED
        if step == Step.ARRIVED:
            return Event.ARRIVED
        if step == Step.WAIT:
            return None
        self._note(self.approach.why)
        if step == Step.NAV_FAILED:
            return Event.NAVIGATION_FAILED
        rospy.logwarn("%s: %s", self.config.drone_id, self.approach.why)
        if step == Step.GIVE_UP:
            return Event.MARKER_LOST
        self._perform(Action.SEARCH_MARKER)   # SEARCH_AGAIN
        return None

    def _correct_approach(self, now: float) -> None:
        """Map approach: follow our own estimate of the marker while descending (keeps the leg's deadline)."""
        leg = self.leg
        if leg is None or not self.approach.fresh(now) or now - self.corrected_at < CORRECTION_PERIOD_S:
            return
        target = self._marker_setpoint(leg.target)
        if float(np.linalg.norm(target[:2] - leg.target[:2])) < CORRECTION_M:
            return
        self.corrected_at = now
        try:
            self.clover.navigate(*(float(v) for v in target), "map", speed=APPROACH_SPEED)
        except CloverError as exc:
            rospy.logwarn("%s: approach correction: %s", self.config.drone_id, exc)
            return
        leg.retarget(target, now)

    # ----- outputs -------------------------------------------------------------------------------------------
    def _feedback(self) -> None:
        mission, handle, leg = self.mission, self.handle, self.leg
        if handle is None:
            return
        if leg is None:
            distance, eta = 0.0, math.nan
        else:
            distance = leg.distance_to_go(self._position())
            eta = distance / (APPROACH_SPEED if mission.state == State.APPROACH else self.config.speed)
        handle.publish_feedback(DeliverFeedback(
            mission_state=mission.state, mission_state_name=mission.state.name, distance_to_go=distance,
            eta=eta, battery_percentage=self.battery.percentage, pose=self.pose))

    def _state(self) -> State:
        mission = self.mission
        return mission.state if mission is not None else State.IDLE

    def _telemetry_age(self) -> float:
        return (rospy.Time.now() - self.pose_stamp).to_sec() if self.pose_stamp != ZERO else math.inf

    def publish_state(self) -> None:
        goal, state = self.goal, self._state()
        msg = DroneState(
            drone_id=self.config.drone_id, mission_state=state, mission_state_name=state.name,
            delivery_id=goal.delivery_id if goal is not None else "",
            fcu_connected=self.mav_state.connected, armed=self.mav_state.armed, flight_mode=self.mav_state.mode,
            battery_known=self.battery.known, battery_percentage=self.battery.percentage,
            battery_voltage=self.battery.voltage, cell_voltage=self.battery.cell_voltage, pose=self.pose,
            speed=self.speed, telemetry_age=self._telemetry_age(),
            in_service=True, message=self.message)
        msg.header.stamp = rospy.Time.now()
        msg.header.frame_id = "map"
        self.state_pub.publish(msg)

    def publish_diagnostics(self) -> None:
        state = self._state()
        status = DiagnosticStatus(name=f"skypost/{self.config.drone_id}", hardware_id=self.config.drone_id)
        if not self.mav_state.connected:
            status.level, status.message = DiagnosticStatus.ERROR, "autopilot not connected"
        elif state == State.EMERGENCY_LAND:
            status.level, status.message = DiagnosticStatus.ERROR, "emergency-landed away from its base"
        elif not self.battery.known:
            status.level, status.message = DiagnosticStatus.WARN, "battery state unknown"
        elif self.battery.percentage < self.config.low_battery:
            status.level, status.message = DiagnosticStatus.WARN, f"battery low ({self.battery.percentage:.0%})"
        elif self.link_lost:
            status.level, status.message = DiagnosticStatus.WARN, "fleet link lost"
        else:
            status.level, status.message = DiagnosticStatus.OK, self.message
        goal = self.goal
        status.values = [
            KeyValue("mission_state", state.name),
            KeyValue("delivery_id", goal.delivery_id if goal is not None else ""),
            KeyValue("battery", "unknown" if not self.battery.known else f"{self.battery.percentage:.2f}"),
            KeyValue("flight_mode", self.mav_state.mode),
            KeyValue("clover_calls", str(self.clover.calls)),
            KeyValue("clover_failed_calls", str(self.clover.failures)),
        ]
        array = DiagnosticArray(status=[status])
        array.header.stamp = rospy.Time.now()
        self.diag_pub.publish(array)

    def shutdown(self) -> None:
        self.stop.set()
        if self.mav_state.armed:
            rospy.logwarn("%s: node stopping while the drone is armed (%s): the autopilot keeps its last setpoint",
                          self.config.drone_id, self._state().name)
        self.cargo.close()
