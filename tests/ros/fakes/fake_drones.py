#!/usr/bin/env python3
"""FAKE drones for the fleet's integration tests (the real drone node is written in parallel).

One process serves several drones, each following docs/interfaces.md: /<drone>/deliver (skypost/Deliver
action), /<drone>/drop_control, /<drone>/state (latched, 5 Hz heartbeat). A drop publishes
/lockers/<locker>/sim/parcel_arrived like clover_sim does. Behaviour per drone, read at each goal from
~behaviour/<drone> (default ~behaviour): normal | abort | silent (stops publishing mid-flight: goes OFFLINE) |
no_sensor (drops without the locker seeing it) | no_drop (never releases).
~battery/<drone>: 0..1, < 0 unknown.
~leg_time: seconds per flight leg.
"""

import math
import threading

import actionlib
import rospy
from skypost.msg import DeliverAction, DeliverFeedback, DeliverResult, DroneState
from skypost.srv import DropControl, DropControlResponse
from std_msgs.msg import String

IDLE, PREFLIGHT, TAKEOFF, NAVIGATING, APPROACH, WAITING_DROP, DROPPED, RETURNING, LANDING = range(9)
NAMES = [
    "IDLE",
    "PREFLIGHT",
    "TAKEOFF",
    "NAVIGATING",
    "APPROACH",
    "WAITING_DROP",
    "DROPPED",
    "RETURNING",
    "LANDING",
]
DELIVERED, DELIVERED_UNCONFIRMED, RETURNED_WITH_PARCEL, ABORTED, CANCELLED = range(5)
CELL_OPENED, DROP_CONFIRMED, DROP_UNCONFIRMED, CELL_FAILED = 1, 2, 3, 4


class PreemptedError(Exception):
    pass


class FakeDrone:
    def __init__(self, drone_id: str) -> None:
        self.id = drone_id
        self.state = IDLE
        self.delivery = ""
        self.silent = False
        self.signal = None
        self.signal_event = threading.Event()
        self.lock = threading.Lock()
        self.state_pub = rospy.Publisher(f"/{drone_id}/state", DroneState, queue_size=10, latch=True)
        self.server = actionlib.SimpleActionServer(
            f"/{drone_id}/deliver", DeliverAction, self.execute, False
        )
        rospy.Service(f"/{drone_id}/drop_control", DropControl, self.drop_control)
        self.server.start()
        self.publish()

    def param(self, name, default):
        return rospy.get_param(f"~{name}/{self.id}", rospy.get_param(f"~{name}", default))

    def publish(self) -> None:
        if self.silent:
            return
        battery = float(self.param("battery", 0.95))
        msg = DroneState(
            drone_id=self.id,
            mission_state=self.state,
            mission_state_name=NAMES[self.state],
            delivery_id=self.delivery,
            fcu_connected=True,
            armed=self.state not in (IDLE,),
            flight_mode="OFFBOARD",
            battery_known=battery >= 0,
            battery_percentage=battery if battery >= 0 else math.nan,
            battery_voltage=math.nan,
            cell_voltage=math.nan,
            telemetry_age=0.1,
            in_service=True,
        )
        msg.header.stamp = rospy.Time.now()
        msg.pose.orientation.w = 1.0
        self.state_pub.publish(msg)

    def set_state(self, state: int, eta: float = math.nan) -> None:
        self.state = state
        self.publish()
        if not self.silent and self.server.is_active():
            self.server.publish_feedback(
                DeliverFeedback(
                    mission_state=state,
                    mission_state_name=NAMES[state],
                    distance_to_go=math.nan,
                    eta=eta,
                    battery_percentage=math.nan,
                )
            )

    def drop_control(self, req):
        if req.delivery_id != self.delivery:
            return DropControlResponse(success=False, message=f"not flying {req.delivery_id}")
        with self.lock:
            self.signal = req.event
            self.signal_event.set()
        return DropControlResponse(success=True, message="ok")

    def wait(self, seconds: float) -> None:
        end = rospy.get_time() + seconds
        while rospy.get_time() < end:
            if self.server.is_preempt_requested() or rospy.is_shutdown():
                raise PreemptedError()
            rospy.rostime.wallsleep(0.02)

    def wait_signal(self, wanted, seconds: float):
        end = rospy.get_time() + seconds
        while rospy.get_time() < end:
            if self.server.is_preempt_requested() or rospy.is_shutdown():
                raise PreemptedError()
            if self.signal_event.wait(0.02):
                with self.lock:
                    signal, self.signal = self.signal, None
                    self.signal_event.clear()
                if signal in wanted:
                    return signal
        return None

    def execute(self, goal) -> None:
        behaviour = str(self.param("behaviour", "normal"))
        leg = float(rospy.get_param("~leg_time", 0.3))
        self.delivery, self.signal = goal.delivery_id, None
        self.signal_event.clear()
        released = False
        try:
            for state in (PREFLIGHT, TAKEOFF):
                self.set_state(state)
                self.wait(leg / 3)
            self.set_state(NAVIGATING, leg)
            if behaviour == "silent":
                self.silent = True
            self.wait(leg)
            if behaviour == "abort":
                return self.finish(ABORTED, False, "navigation refused", aborted=True)
            self.set_state(APPROACH, 0.0)
            self.wait(leg / 3)
            self.set_state(WAITING_DROP, 0.0)
            signal = self.wait_signal((CELL_OPENED, CELL_FAILED), 30.0)
            if signal != CELL_OPENED or behaviour == "no_drop":
                return self.go_home(RETURNED_WITH_PARCEL, False, "no cell opened", leg)
            released = True
            self.set_state(DROPPED)
            if behaviour != "no_sensor":
                rospy.Publisher(
                    f"/lockers/{goal.locker_id}/sim/parcel_arrived", String, queue_size=1, latch=True
                ).publish(String(self.id))
            signal = self.wait_signal((DROP_CONFIRMED, DROP_UNCONFIRMED), 30.0)
            outcome = DELIVERED if signal == DROP_CONFIRMED else DELIVERED_UNCONFIRMED
            return self.go_home(outcome, True, "delivered", leg)
        except PreemptedError:
            if rospy.is_shutdown():
                return None
            return self.go_home(
                DELIVERED_UNCONFIRMED if released else CANCELLED, released, "cancelled", 0.0, preempted=True
            )

    def go_home(self, outcome, released, message, leg, preempted=False):
        self.set_state(RETURNING)
        end = rospy.get_time() + leg
        while rospy.get_time() < end and not rospy.is_shutdown():
            rospy.rostime.wallsleep(0.02)
        self.set_state(LANDING)
        return self.finish(outcome, released, message, preempted=preempted)

    def finish(self, outcome, released, message, aborted=False, preempted=False):
        final = self.state
        self.delivery = ""
        self.state = IDLE
        self.silent = False
        result = DeliverResult(
            outcome=outcome, parcel_released=released, final_state=final, message=message
        )
        if preempted:
            self.server.set_preempted(result, message)
        elif aborted:
            self.server.set_aborted(result, message)
        else:
            self.server.set_succeeded(result, message)
        self.publish()


def main() -> None:
    rospy.init_node("fake_drones")
    ids = [d.strip() for d in str(rospy.get_param("~drones", "drone_1")).split(",") if d.strip()]
    drones = [FakeDrone(d) for d in ids]
    rospy.Timer(rospy.Duration(0.2), lambda _e: [d.publish() for d in drones])
    rospy.loginfo("fake drones ready: %s", ids)
    rospy.spin()


if __name__ == "__main__":
    main()
