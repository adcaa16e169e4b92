"""roslibpy (the web app's client, from PyPI) against the real bridge node started by launch/bridge.launch on port 0
with auth on: publish to a rospy subscriber, subscribe to a rospy publisher, call a rospy service, serve a service
rospy calls, get/set params, list topics; and the allow-lists: an unauthenticated client and a role without the
permission are refused (publish, subscribe, call, params), a permitted one works."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
import rosgraph
import rospy
from bridge_stack import EVERYTHING, BridgeUnderTest
from geometry_msgs.msg import PoseStamped
from harness import wait_for
from std_msgs.msg import String, UInt16
from std_srvs.srv import SetBool, SetBoolResponse, Trigger

roslibpy = pytest.importorskip("roslibpy")

pytestmark = pytest.mark.ros
WAIT = 30.0  # s for anything that crosses the bridge on a loaded machine
ROLES = {
    "admin": EVERYTHING,
    # may read /open/* and the clock, nothing else
    "reader": {"publish": [], "subscribe": ["/open/*"], "advertise": [], "params_set": [],
               "call": ["/rosapi/*", "/open/*"],
               "params_get": ["/open/*"]},
}


class Client:
    """One roslibpy connection; `statuses` keeps the bridge's status messages (asked for with set_level)."""

    def __init__(self, bridge: BridgeUnderTest, role: str | None, level: str | None = "error") -> None:
        self.statuses: list[dict] = []
        self.ros = roslibpy.Ros(host="127.0.0.1", port=bridge.port)
        # roslibpy raises on a `status` op (its handler slot is empty): fill the slot, as the web app does
        self.ros.factory.on_ready(lambda proto: proto._message_handlers.__setitem__("status", self.statuses.append))
        self.ros.run(timeout=WAIT)
        if role is not None:
            self.send({"op": "auth", "mac": bridge.token(role), "client": "test", "dest": bridge.url,
                       "rand": "r", "t": 0, "level": role, "end": 0})
        if level is not None:
            self.ros.set_status_level(level, "level")

    def send(self, message: dict) -> None:
        self.ros.send_on_ready(roslibpy.Message(message))

    def errors(self) -> list[str]:
        return [s["msg"] for s in self.statuses if s.get("level") == "error"]

    def close(self) -> None:
        if self.ros.is_connected:
            self.ros.close()


@pytest.fixture(scope="module")
def bridge(rospy_node, ros_processes, roscore, tmp_path_factory) -> Iterator[BridgeUnderTest]:
    bridge = BridgeUnderTest(ros_processes, roscore.uri, tmp_path_factory.mktemp("bridge"), ROLES,
                             {"service_timeout": 5.0, "auth_timeout": 60.0})
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def clients(bridge) -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()
    if made:
        made[0].ros.terminate()  # the one Twisted reactor of this process


@pytest.fixture(scope="module")
def admin(bridge, clients) -> Client:
    client = Client(bridge, "admin")
    clients.append(client)
    return client


def collector(cls: type, topic: str) -> list:
    received: list = []
    rospy.Subscriber(topic, cls, received.append, queue_size=100)
    return received


def test_the_bridge_publishes_the_port_it_bound(bridge, rospy_node):
    assert bridge.port > 0
    assert rospy.get_param("/bridge/actual_port") == bridge.port
    assert rospy.wait_for_message("/bridge/actual_port", UInt16, timeout=WAIT).data == bridge.port


def test_publish_reaches_a_rospy_subscriber(admin: Client):
    received = collector(String, "/test/to_ros")
    topic = roslibpy.Topic(admin.ros, "/test/to_ros", "std_msgs/String")
    # until the bridge's publisher and our subscriber have connected, ROS drops what is published
    wait_for(lambda: topic.publish(roslibpy.Message({"data": "hello"})) or received, WAIT, "a first message",
             interval=0.2)
    start = len(received)
    for i in range(50):
        topic.publish(roslibpy.Message({"data": f"n{i}"}))
    numbered = lambda: [m.data for m in received[start:] if m.data != "hello"]  # noqa: E731 - hellos in flight
    wait_for(lambda: len(numbered()) >= 50, WAIT, "50 messages in rospy")
    assert numbered() == [f"n{i}" for i in range(50)]

    # nested message, missing header filled with the current time
    poses = collector(PoseStamped, "/test/pose")
    pose_topic = roslibpy.Topic(admin.ros, "/test/pose", "geometry_msgs/PoseStamped")
    wait_for(lambda: pose_topic.publish(roslibpy.Message({"pose": {"position": {"x": 1.5, "y": -2.0}}})) or poses,
             WAIT, "a pose", interval=0.2)
    pose = poses[-1]
    assert (pose.pose.position.x, pose.pose.position.y, pose.pose.orientation.w) == (1.5, -2.0, 0.0)
    assert pose.header.stamp.to_sec() > 0


def test_subscribe_to_a_rospy_publisher(admin: Client):
    pub = rospy.Publisher("/test/from_ros", String, queue_size=100)
    received: list[dict] = []
    listener = roslibpy.Topic(admin.ros, "/test/from_ros", "std_msgs/String")
    listener.subscribe(received.append)
    wait_for(lambda: pub.get_num_connections() >= 1, WAIT, "the bridge to subscribe")
    wait_for(lambda: pub.publish(String("first")) or received, WAIT, "the first message", interval=0.2)
    start = len(received)
    for i in range(50):
        pub.publish(String(f"m{i}"))
    numbered = lambda: [m["data"] for m in received[start:] if m["data"] != "first"]  # noqa: E731
    wait_for(lambda: len(numbered()) >= 50, WAIT, "50 messages through roslibpy")
    assert numbered() == [f"m{i}" for i in range(50)]

    # a latched message published before the client subscribed still reaches it
    latched = rospy.Publisher("/test/latched", UInt16, queue_size=1, latch=True)
    latched.publish(UInt16(42))
    late: list[dict] = []
    roslibpy.Topic(admin.ros, "/test/latched", "std_msgs/UInt16").subscribe(late.append)
    wait_for(lambda: late, WAIT, "the latched message")
    assert late[0] == {"data": 42}
    listener.unsubscribe()
    wait_for(lambda: pub.get_num_connections() == 0, WAIT, "the bridge to drop its subscriber after unsubscribe")


def test_call_a_rospy_service(admin: Client):
    rospy.Service("/test/set_bool", SetBool, lambda req: SetBoolResponse(success=req.data, message=f"got {req.data}"))

    def broken(_req):
        raise rospy.ServiceException("the handler refuses")

    rospy.Service("/test/broken", Trigger, broken)
    service = roslibpy.Service(admin.ros, "/test/set_bool", "std_srvs/SetBool")
    response = service.call(roslibpy.ServiceRequest({"data": True}), timeout=WAIT)
    assert response["success"] is True and response["message"] == "got True"
    # non-blocking form, as the web app's callbacks use it
    done = threading.Event()
    answers: list = []
    service.call(roslibpy.ServiceRequest({"data": False}), lambda r: (answers.append(r), done.set()),
                 lambda e: (answers.append(e), done.set()))
    assert done.wait(WAIT) and answers[0]["success"] is False

    with pytest.raises(roslibpy.core.ServiceException, match="the handler refuses"):
        roslibpy.Service(admin.ros, "/test/broken", "std_srvs/Trigger").call(roslibpy.ServiceRequest(), timeout=WAIT)
    with pytest.raises(roslibpy.core.ServiceException, match="no such service"):
        roslibpy.Service(admin.ros, "/test/absent", "").call(roslibpy.ServiceRequest(), timeout=WAIT)


def test_serve_a_service_that_rospy_calls(admin: Client):
    requests: list[dict] = []

    def handler(request: dict, response: dict) -> bool:
        requests.append(dict(request))
        if request["data"] is None:
            return False
        response["success"] = not request["data"]
        response["message"] = "served by roslibpy"
        return True

    served = roslibpy.Service(admin.ros, "/test/served", "std_srvs/SetBool")
    served.advertise(handler)
    rospy.wait_for_service("/test/served", timeout=WAIT)
    proxy = rospy.ServiceProxy("/test/served", SetBool)
    answer = proxy(data=True)
    assert (answer.success, answer.message) == (False, "served by roslibpy")
    assert proxy(data=False).success is True
    assert requests == [{"data": True}, {"data": False}]

    failing = roslibpy.Service(admin.ros, "/test/served_fails", "std_srvs/Trigger")
    failing.advertise(lambda request, response: False)
    rospy.wait_for_service("/test/served_fails", timeout=WAIT)
    with pytest.raises(rospy.ServiceException, match="failed"):
        rospy.ServiceProxy("/test/served_fails", Trigger)()

    served.unadvertise()
    master = rosgraph.Master("/test")
    wait_for(lambda: "/test/served" not in {name for name, _ in master.getSystemState()[2]}, WAIT,
             "/test/served to leave the master after unadvertise_service")


def test_get_and_set_params(admin: Client):
    param = roslibpy.Param(admin.ros, "/test/param")
    param.set({"speed": 2.5, "names": ["a", "b"]}, timeout=WAIT)
    assert rospy.get_param("/test/param") == {"speed": 2.5, "names": ["a", "b"]}
    assert param.get(timeout=WAIT) == {"speed": 2.5, "names": ["a", "b"]}
    rospy.set_param("/test/from_rospy", 7)
    assert roslibpy.Param(admin.ros, "/test/from_rospy").get(timeout=WAIT) == 7
    assert "/test/param/speed" in admin.ros.get_params()
    param.delete(timeout=WAIT)
    assert not rospy.has_param("/test/param")
    assert param.get(timeout=WAIT) is None


def test_no_role_reads_the_bridge_secret(bridge, admin: Client):
    """The launch file puts the secret on the parameter server; whoever read it could sign any role's token."""
    assert rospy.get_param("/bridge/auth_secret") == bridge.secret  # where the node took it from
    with pytest.raises(roslibpy.core.ServiceException, match="bridge's secret"):
        roslibpy.Param(admin.ros, "/bridge/auth_secret").get(timeout=WAIT)
    with pytest.raises(roslibpy.core.ServiceException, match="bridge's secret"):
        roslibpy.Param(admin.ros, "/bridge").delete(timeout=WAIT)
    namespace = roslibpy.Param(admin.ros, "/bridge").get(timeout=WAIT)
    assert namespace["actual_port"] == bridge.port and "auth_secret" not in namespace
    assert bridge.secret not in json.dumps(roslibpy.Param(admin.ros, "/").get(timeout=WAIT))
    assert "/bridge/auth_secret" not in admin.ros.get_params()


def test_list_topics_services_and_types(admin: Client):
    rospy.Publisher("/test/listed", String, queue_size=1)
    wait_for(lambda: "/test/listed" in admin.ros.get_topics(), WAIT, "/test/listed in /rosapi/topics")
    assert admin.ros.get_topic_type("/test/listed") == "std_msgs/String"
    assert "/test/listed" in admin.ros.get_topics_for_type("std_msgs/String")
    services = admin.ros.get_services()
    assert "/test/set_bool" in services and "/rosapi/topics" in services
    assert admin.ros.get_service_type("/test/set_bool") == "std_srvs/SetBool"
    assert "/bridge" in admin.ros.get_nodes()
    details = admin.ros.get_message_details("geometry_msgs/PoseStamped")
    assert details["typedefs"][0]["fieldnames"] == ["header", "pose"]
    assert admin.ros.get_time()["secs"] > 0
    assert admin.errors() == []


# -- auth and allow-lists ----------------------------------------------------------------------------------------
def bridge_has(topic: str, index: int) -> bool:
    """Whether the bridge node publishes (index 0) or subscribes (1) `topic`, by the master."""
    for name, nodes in rosgraph.Master("/test").getSystemState()[index]:
        if name == topic:
            return "/bridge" in nodes
    return False


def try_everything(client: Client) -> dict[str, str]:
    """Each kind of request on names the reader role may not touch; returns what each refusal said."""
    refusals: dict[str, str] = {}
    roslibpy.Topic(client.ros, "/secret/in", "std_msgs/String").publish(roslibpy.Message({"data": "x"}))
    roslibpy.Topic(client.ros, "/secret/out", "std_msgs/String").subscribe(lambda m: refusals.setdefault("got", m))
    roslibpy.Service(client.ros, "/secret/served", "std_srvs/Trigger").advertise(lambda req, resp: True)
    for key, call in (
        ("call", lambda: roslibpy.Service(client.ros, "/test/set_bool", "std_srvs/SetBool").call(
            roslibpy.ServiceRequest({"data": True}), timeout=WAIT)),
        ("param_get", lambda: roslibpy.Param(client.ros, "/test/from_rospy").get(timeout=WAIT)),
        ("param_set", lambda: roslibpy.Param(client.ros, "/open/param").set(1, timeout=WAIT)),
    ):
        with pytest.raises(roslibpy.core.ServiceException) as refused:
            call()
        refusals[key] = str(refused.value)
    # the calls above were answered after the bridge handled the ops sent before them: they are refused by now
    wait_for(lambda: len(client.errors()) >= 4, WAIT, "a status error for each op the bridge refused")
    assert not bridge_has("/secret/in", 0) and not bridge_has("/secret/out", 1)
    assert "/secret/served" not in {name for name, _ in rosgraph.Master("/test").getSystemState()[2]}
    return refusals


def test_an_unauthenticated_client_is_refused_everything(bridge, clients, admin):
    secret_out = rospy.Publisher("/secret/out", String, queue_size=10, latch=True)
    secret_out.publish(String("secret"))
    stranger = Client(bridge, role=None)
    clients.append(stranger)
    refusals = try_everything(stranger)
    assert "got" not in refusals, "a refused subscription delivered a message"
    for key in ("call", "param_get", "param_set"):
        assert "not authenticated" in refusals[key], refusals
    errors = stranger.errors()
    assert all("not authenticated" in text for text in errors), errors
    assert sorted(text.split(":", 1)[0] for text in errors) == [
        "advertise", "advertise_service", "publish", "subscribe"], errors
    assert stranger.ros.is_connected  # refused, not dropped: it may still authenticate


def test_a_role_without_the_permission_is_refused(bridge, clients, admin):
    reader = Client(bridge, "reader")
    clients.append(reader)
    refusals = try_everything(reader)
    assert "got" not in refusals
    assert "role 'reader' may not call /test/set_bool" in refusals["call"]
    assert "may not read param /test/from_rospy" in refusals["param_get"]
    assert "may not write param /open/param" in refusals["param_set"]
    errors = reader.errors()
    assert any("may not publish /secret/in" in e for e in errors), errors
    assert any("may not subscribe /secret/out" in e for e in errors), errors
    assert any("may not advertise /secret/served" in e for e in errors), errors
    assert reader.ros.is_connected


def test_a_permitted_role_gets_what_it_is_allowed(bridge, clients, admin):
    reader = Client(bridge, "reader")
    clients.append(reader)
    news = rospy.Publisher("/open/news", String, queue_size=10, latch=True)
    news.publish(String("open news"))
    rospy.Publisher("/secret/hidden", String, queue_size=1)
    rospy.set_param("/open/param", {"level": 3})
    got: list[dict] = []
    roslibpy.Topic(reader.ros, "/open/news", "std_msgs/String").subscribe(got.append)
    wait_for(lambda: got, WAIT, "the reader to get /open/news")
    assert got[0] == {"data": "open news"}
    assert roslibpy.Param(reader.ros, "/open/param").get(timeout=WAIT) == {"level": 3}
    assert reader.ros.get_time()["secs"] > 0
    # listings are filtered by the same allow-lists
    wait_for(lambda: "/secret/hidden" in admin.ros.get_topics(), WAIT, "/secret/hidden on the master")
    topics = reader.ros.get_topics()
    assert "/open/news" in topics and all(t.startswith("/open/") for t in topics), topics
    assert reader.errors() == []
