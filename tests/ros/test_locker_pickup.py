"""QR pickup end to end at one simulated locker (locker.launch sim:=true: the real firmware in simavr, the sim
camera and customer): a parcel is dropped into a cell, the customer's QR code on camera/image_raw is validated by a
test double of /skypost/validate_pickup, the right cell opens, the customer takes the parcel, the cell is locked and
freed, a PickupEvent is published; a reused or unknown code opens nothing and is refused on the display."""
import threading
import time

import pytest
from harness import wait_for

pytestmark = pytest.mark.ros

LOCKER = "locker_1"
NS = f"/lockers/{LOCKER}"
STARTUP = 120.0


class ValidationDouble:
    """Stands in for the web app: one code per delivery, consumed when used."""

    def __init__(self, codes: dict) -> None:
        self.codes = codes
        self.used: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, req):
        from skypost.srv import ValidatePickupResponse

        with self.lock:
            self.calls.append((req.locker_id, req.code))
            if req.code not in self.codes:
                return ValidatePickupResponse(success=False, message="unknown code")
            if req.code in self.used:
                return ValidatePickupResponse(success=False, message="code already used")
            self.used.add(req.code)
            delivery, cell = self.codes[req.code]
            return ValidatePickupResponse(success=True, message="ok", delivery_id=delivery, cell_id=cell)

    def count(self, code: str) -> int:
        with self.lock:
            return sum(1 for _locker, c in self.calls if c == code)


@pytest.fixture(scope="module")
def site(roscore, ros_processes, rospy_node):
    import rospy
    from skypost.msg import LockerState, PickupEvent
    from skypost.srv import CloseCell, OpenCell, ReserveCell, ValidatePickup
    from std_msgs.msg import String

    double = ValidationDouble({"SKYPOST-d1-7f3a": ("d1", 1)})
    rospy.Service("/skypost/validate_pickup", ValidatePickup, double)
    ros_processes.start("locker", [
        "roslaunch", "skypost", "locker.launch", f"id:={LOCKER}", "sim:=true", f"pty:={roscore.home}/locker.pty",
        "code_forget:=1.0", "take_time:=0.5", "display_hold:=30.0",
    ])
    seen = {"states": [], "display": [], "pickups": []}
    lock = threading.Lock()

    def record(key):
        def callback(msg):
            with lock:
                seen[key].append((time.monotonic(), msg))
        return callback

    rospy.Subscriber(f"{NS}/state", LockerState, record("states"), queue_size=100)
    rospy.Subscriber(f"{NS}/display", String, record("display"), queue_size=100)
    rospy.Subscriber(f"{NS}/pickups", PickupEvent, record("pickups"), queue_size=100)
    for name in ("reserve_cell", "open_cell", "close_cell"):
        rospy.wait_for_service(f"{NS}/{name}", timeout=STARTUP)
    return {
        "double": double, "seen": seen, "lock": lock,
        "reserve": rospy.ServiceProxy(f"{NS}/reserve_cell", ReserveCell),
        "open": rospy.ServiceProxy(f"{NS}/open_cell", OpenCell),
        "close": rospy.ServiceProxy(f"{NS}/close_cell", CloseCell),
        "parcel": rospy.Publisher(f"{NS}/sim/parcel_arrived", String, queue_size=10),
        "customer": rospy.Publisher(f"{NS}/sim/customer_arrive", String, queue_size=10),
    }


def latest(site, key):
    with site["lock"]:
        return site["seen"][key][-1][1] if site["seen"][key] else None


def since(site, key, t0):
    with site["lock"]:
        return [msg for t, msg in site["seen"][key] if t >= t0]


def cell(site, cell_id):
    return latest(site, "states").cells[cell_id - 1]


def publish_when_connected(publisher, text):
    from std_msgs.msg import String

    wait_for(lambda: publisher.get_num_connections() > 0, 60, f"a subscriber on {publisher.name}")
    publisher.publish(String(data=text))


def test_parcel_is_dropped_into_the_reserved_cell(site):
    wait_for(lambda: latest(site, "states") is not None and latest(site, "states").mode_name == "ONLINE", STARTUP,
             "the simulated locker ONLINE")
    reserved = site["reserve"](reservation_id="d1", size="S", cell_id=0, ttl=0.0)
    assert reserved.success and reserved.cell_id == 1, reserved.message
    opened = site["open"](cell_id=1, reservation_id="d1", maintenance=False, reason="")
    assert opened.success, opened.message
    wait_for(lambda: not cell(site, 1).door_closed, 30, "the hatch of cell 1 open")
    publish_when_connected(site["parcel"], "drone_1")
    wait_for(lambda: cell(site, 1).occupancy == 2, 30, "the parcel seen in cell 1")
    closed = site["close"](cell_id=1)
    assert closed.success, closed.message
    wait_for(lambda: cell(site, 1).door_closed and cell(site, 1).locked, 30, "cell 1 closed with the parcel")


def test_qr_code_opens_the_right_cell_once(site):
    t0 = time.monotonic()
    publish_when_connected(site["customer"], "SKYPOST-d1-7f3a")
    wait_for(lambda: since(site, "pickups", t0), 90, "a pickup event")
    event = since(site, "pickups", t0)[0]
    assert event.success, event.message
    assert (event.locker_id, event.delivery_id, event.cell_id) == (LOCKER, "d1", 1)
    # the code was validated once although the camera showed it for several frames
    assert site["double"].calls == [(LOCKER, "SKYPOST-d1-7f3a")]
    states = since(site, "states", t0)
    assert any(not s.cells[0].locked for s in states), "cell 1 must have opened"
    assert all(c.locked for s in states for c in s.cells[1:]), "no other cell may open"
    wait_for(lambda: cell(site, 1).locked and cell(site, 1).door_closed and not cell(site, 1).reserved
             and cell(site, 1).occupancy == 1, 30, "cell 1 locked, empty and free")
    texts = [m.data for m in since(site, "display", t0)]
    assert "Cell 1 is open: take your parcel and close the door" in texts and texts[-1] == "Thank you!"


def refused(site, code: str, reason: str) -> None:
    t0 = time.monotonic()
    publish_when_connected(site["customer"], code)
    wait_for(lambda: since(site, "pickups", t0), 60, f"the refusal of {code}")
    event = since(site, "pickups", t0)[0]
    assert not event.success and event.message == reason
    wait_for(lambda: latest(site, "display").data == f"Code refused: {reason}", 30, "the refusal on screen")
    assert all(c.locked for s in since(site, "states", t0) for c in s.cells), "nothing may open"


def test_reused_and_unknown_codes_are_refused(site):
    refused(site, "SKYPOST-d1-7f3a", "code already used")
    refused(site, "NOT-A-CODE", "unknown code")
    assert site["double"].count("SKYPOST-d1-7f3a") == 2 and site["double"].count("NOT-A-CODE") == 1
