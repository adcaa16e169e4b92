#!/usr/bin/env python3
"""FAKE lockers for the fleet's integration tests (the real locker node is written in parallel).

One process serves several lockers as docs/interfaces.md says: /lockers/<id>/state (latched), reserve_cell,
release_cell, open_cell, close_cell, pickups. A parcel dropped over the pad (/lockers/<id>/sim/parcel_arrived)
fills the open reserved cell. Test hooks: ~fail_open/<id> (list of cells that never open), ~auto_pickup
(seconds after a closed cell holds a parcel until its customer takes it; < 0: never), ~sensor (false: the
occupancy sensor never sees parcels), /lockers/<id>/sim/pickup (skypost/ReleaseCell: pick up that delivery).
"""

import threading

import rospy
from skypost.msg import CellState, LockerState, PickupEvent
from skypost.srv import (
    CloseCell,
    CloseCellResponse,
    OpenCell,
    OpenCellResponse,
    ReleaseCell,
    ReleaseCellResponse,
    ReserveCell,
    ReserveCellResponse,
)
from std_msgs.msg import String

from skypost_common.world import load_world

EMPTY, OCCUPIED = CellState.OCCUPANCY_EMPTY, CellState.OCCUPANCY_OCCUPIED


class FakeLocker:
    def __init__(self, locker_id: str, sizes, position, marker_id: int) -> None:
        self.id = locker_id
        self.lock = threading.RLock()
        self.cells = {
            i + 1: CellState(cell_id=i + 1, size=s, locked=True, door_closed=True, occupancy=EMPTY)
            for i, s in enumerate(sizes)
        }
        self.position, self.marker_id = position, marker_id
        ns = f"/lockers/{locker_id}"
        self.state_pub = rospy.Publisher(f"{ns}/state", LockerState, queue_size=10, latch=True)
        self.pickup_pub = rospy.Publisher(f"{ns}/pickups", PickupEvent, queue_size=10)
        rospy.Service(f"{ns}/reserve_cell", ReserveCell, self.reserve)
        rospy.Service(f"{ns}/release_cell", ReleaseCell, self.release)
        rospy.Service(f"{ns}/open_cell", OpenCell, self.open)
        rospy.Service(f"{ns}/close_cell", CloseCell, self.close)
        rospy.Service(f"{ns}/sim/pickup", ReleaseCell, self.sim_pickup)
        rospy.Subscriber(f"{ns}/sim/parcel_arrived", String, self.parcel_arrived, queue_size=10)
        self.calls = {"reserve": 0, "open": 0}
        self.publish()

    def publish(self) -> None:
        with self.lock:
            msg = LockerState(
                locker_id=self.id,
                mode=LockerState.MODE_ONLINE,
                mode_name="ONLINE",
                marker_id=self.marker_id,
                cells=[c for _i, c in sorted(self.cells.items())],
            )
            msg.position.x, msg.position.y, msg.position.z = self.position
            msg.free_cells = sum(
                1 for c in self.cells.values() if not c.reserved and c.occupancy != OCCUPIED
            )
            msg.header.stamp = rospy.Time.now()
            self.state_pub.publish(msg)

    def reserve(self, req):
        with self.lock:
            self.calls["reserve"] += 1
            held = [c for c in self.cells.values() if c.reserved and c.reservation_id == req.reservation_id]
            if held and (req.cell_id == 0 or held[0].cell_id == req.cell_id):
                return ReserveCellResponse(
                    success=True, message="already reserved", cell_id=held[0].cell_id
                )
            free = [
                c
                for _i, c in sorted(self.cells.items())
                if not c.reserved
                and c.occupancy != OCCUPIED
                and c.size == req.size
                and (req.cell_id == 0 or c.cell_id == req.cell_id)
            ]
            if not free:
                return ReserveCellResponse(success=False, message=f"no free {req.size} cell")
            cell = free[0]
            cell.reserved, cell.reservation_id = True, req.reservation_id
            self.publish()
            return ReserveCellResponse(success=True, message="reserved", cell_id=cell.cell_id)

    def release(self, req):
        with self.lock:
            found = False
            for cell in self.cells.values():
                if cell.reserved and cell.reservation_id == req.reservation_id:
                    cell.reserved, cell.reservation_id, found = False, "", True
            self.publish()
            return ReleaseCellResponse(
                success=found, message="released" if found else "no such reservation"
            )

    def open(self, req):
        with self.lock:
            self.calls["open"] += 1
            cell = self.cells.get(req.cell_id)
            if cell is None or cell.reservation_id != req.reservation_id:
                return OpenCellResponse(success=False, message="no matching reservation")
            if req.cell_id in rospy.get_param(f"~fail_open/{self.id}", []):
                cell.fault, cell.fault_reason = True, "lock did not open"
                self.publish()
                return OpenCellResponse(success=False, message="lock did not open")
            cell.locked, cell.door_closed = False, False
            self.publish()
            return OpenCellResponse(success=True, message="open")

    def close(self, req):
        with self.lock:
            cell = self.cells.get(req.cell_id)
            if cell is None:
                return CloseCellResponse(success=False, message="no such cell")
            cell.locked, cell.door_closed = True, True
            self.publish()
            delay = float(rospy.get_param("~auto_pickup", -1.0))
            if cell.occupancy == OCCUPIED and delay >= 0 and cell.reservation_id:
                delivery = cell.reservation_id
                threading.Timer(delay, self.pickup, args=(delivery,)).start()
            return CloseCellResponse(success=True, message="closed")

    def parcel_arrived(self, msg) -> None:
        if not rospy.get_param("~sensor", True):
            return
        with self.lock:
            for cell in self.cells.values():
                if cell.reserved and not cell.locked:
                    cell.occupancy = OCCUPIED
            self.publish()

    def pickup(self, delivery_id: str) -> bool:
        with self.lock:
            cell = next((c for c in self.cells.values() if c.reservation_id == delivery_id), None)
            if cell is None:
                return False
            cell.occupancy, cell.reserved, cell.reservation_id = EMPTY, False, ""
            self.publish()
        self.pickup_pub.publish(
            PickupEvent(
                locker_id=self.id,
                delivery_id=delivery_id,
                cell_id=cell.cell_id,
                success=True,
                message="picked up",
            )
        )
        return True

    def sim_pickup(self, req):
        ok = self.pickup(req.reservation_id)
        return ReleaseCellResponse(success=ok, message="picked up" if ok else "no such parcel")


def main() -> None:
    rospy.init_node("fake_lockers")
    world = load_world(rospy.get_param("~world", rospy.get_param("/skypost/world_file")))
    ids = [
        x.strip() for x in str(rospy.get_param("~lockers", ",".join(world.lockers))).split(",") if x.strip()
    ]
    lockers = [
        FakeLocker(i, world.lockers[i].cells, world.lockers[i].position, world.lockers[i].marker_id)
        for i in ids
    ]
    rospy.Timer(rospy.Duration(1.0), lambda _e: [lk.publish() for lk in lockers])
    rospy.loginfo("fake lockers ready: %s", ids)
    rospy.spin()


if __name__ == "__main__":
    main()
