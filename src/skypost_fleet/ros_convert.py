"""Conversions between SkyPost messages and the fleet's plain records."""

from __future__ import annotations

import math

import rospy
from actionlib_msgs.msg import GoalStatus
from skypost.msg import DeliveryStatus, DroneState, LockerState

from skypost_fleet.model import Delivery, Mission, Outcome, State
from skypost_fleet.registry import CellReport, DroneReport, LockerReport


def drone_report(msg: DroneState, drone_id: str) -> DroneReport:
    return DroneReport(
        drone_id=drone_id,
        mission_state=int(msg.mission_state),
        delivery_id=msg.delivery_id,
        fcu_connected=bool(msg.fcu_connected),
        battery_known=bool(msg.battery_known),
        battery=float(msg.battery_percentage),
        x=float(msg.pose.position.x),
        y=float(msg.pose.position.y),
        telemetry_age=float(msg.telemetry_age) if not math.isnan(msg.telemetry_age) else math.inf,
        in_service=bool(msg.in_service),
        message=msg.message,
    )


def locker_report(msg: LockerState, locker_id: str) -> LockerReport:
    cells = tuple(
        CellReport(
            int(c.cell_id),
            c.size.upper(),
            int(c.occupancy),
            bool(c.reserved),
            c.reservation_id,
            bool(c.fault),
        )
        for c in msg.cells
    )
    return LockerReport(locker_id, int(msg.mode), cells)


def status_msg(d: Delivery) -> DeliveryStatus:
    msg = DeliveryStatus()
    msg.header.stamp = rospy.Time.from_sec(max(d.updated, 0.0))
    msg.delivery_id = d.delivery_id
    msg.state = int(d.state)
    msg.state_name = d.state.name
    msg.priority = int(d.priority)
    msg.drone_id = d.drone_id
    msg.locker_id = d.locker_id
    msg.cell_id = int(d.cell_id)
    msg.cell_size = d.cell_size
    msg.attempts = int(d.attempts)
    msg.reason = d.reason
    msg.drop_confirmed = bool(d.drop_confirmed)
    msg.created = rospy.Time.from_sec(max(d.created, 0.0))
    msg.updated = rospy.Time.from_sec(max(d.updated, 0.0))
    in_flight = d.state in (State.IN_FLIGHT, State.AT_LOCKER)
    msg.eta = float(d.eta) if in_flight else math.nan
    return msg


def outcome_of(status: int, outcome: int, parcel_released: bool, message: str) -> tuple[int, str]:
    """The outcome to believe: a goal rejected, aborted or preempted without a result carries the default
    (DELIVERED = 0), which must not be read as a delivery."""
    default_result = outcome == Outcome.DELIVERED and not parcel_released and not message
    if status in (GoalStatus.REJECTED, GoalStatus.RECALLED):
        return int(Outcome.ABORTED), f"goal rejected: {message or 'by the drone'}"
    if default_result and status == GoalStatus.ABORTED:
        return int(Outcome.ABORTED), "goal aborted without a result"
    if default_result and status == GoalStatus.PREEMPTED:
        return int(Outcome.CANCELLED), "goal preempted without a result"
    return int(outcome), message


def offline_drone_state(drone_id: str, last: DroneState | None) -> DroneState:
    msg = DroneState() if last is None else last
    out = DroneState()
    out.header = msg.header
    out.drone_id = drone_id
    out.mission_state = int(Mission.OFFLINE)
    out.mission_state_name = Mission.OFFLINE.name
    out.delivery_id = msg.delivery_id
    out.battery_known = msg.battery_known if last is not None else False
    out.battery_percentage = msg.battery_percentage if last is not None else math.nan
    out.battery_voltage = msg.battery_voltage if last is not None else math.nan
    out.cell_voltage = msg.cell_voltage if last is not None else math.nan
    out.pose = msg.pose
    out.telemetry_age = math.inf
    out.in_service = msg.in_service if last is not None else False
    out.message = "no state received" if last is None else f"offline; last: {msg.message}"
    return out
