"""roslibjs (npm `roslib`, from web/node_modules) in headless Chromium against the real bridge node (launch file,
port 0, auth on): publish to a rospy subscriber, subscribe to a rospy publisher (plain, cbor, png), call a rospy
service, serve a service rospy calls, get/set params, list topics. The page is served from a temp dir by a local
HTTP server on 127.0.0.1; no request may leave 127.0.0.1."""
from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rospy
from bridge_stack import EVERYTHING, BridgeUnderTest
from browser import Guard, chromium
from harness import ROOT, wait_for
from sensor_msgs.msg import CompressedImage
from std_msgs.msg import String
from std_srvs.srv import SetBool, SetBoolResponse, Trigger

pytestmark = pytest.mark.ros
WAIT = 30.0
POLL = 0.1  # s between looks into the page
ROSLIB = ROOT / "web" / "node_modules" / "roslib" / "build" / "roslib.min.js"

# The page's side of the test: thin wrappers around roslibjs that hand results back as plain JSON (promises for
# anything asynchronous), plus what arrived, for the test to poll.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>roslibjs against the SkyPost bridge</title>
<script src="roslib.min.js"></script>
<script>
"use strict";
const plain = (value) => {
  if (ArrayBuffer.isView(value)) return {bytes: Array.from(value)};
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
};
window.T = {
  ros: null, topics: {}, received: {}, served: [], statuses: [],
  connect(url, token) {
    return new Promise((resolve, reject) => {
      const ros = new ROSLIB.Ros({url});
      T.ros = ros;
      ros.on("connection", () => resolve(true));
      ros.on("error", () => reject(new Error("websocket error")));
      ros.on("status", (status) => T.statuses.push(status));
      const now = Date.now() / 1000;
      ros.authenticate(token, "roslibjs-test", url, "r", now, "admin", now + 600);
    });
  },
  publish(name, type, msg) {
    if (!T.topics[name]) T.topics[name] = new ROSLIB.Topic({ros: T.ros, name, messageType: type});
    T.topics[name].publish(new ROSLIB.Message(msg));
  },
  subscribe(name, type, options) {
    T.received[name] = [];
    const topic = new ROSLIB.Topic(Object.assign({ros: T.ros, name, messageType: type}, options || {}));
    topic.subscribe((message) => T.received[name].push(plain(message)));
  },
  call(name, type, request) {
    return new Promise((resolve) => {
      const service = new ROSLIB.Service({ros: T.ros, name, serviceType: type});
      service.callService(new ROSLIB.ServiceRequest(request), (response) => resolve({ok: true, value: plain(response)}),
        (error) => resolve({ok: false, error: String(error)}));
    });
  },
  serve(name, type, succeed) {
    new ROSLIB.Service({ros: T.ros, name, serviceType: type}).advertise((request, response) => {
      T.served.push(plain(request));
      if (!succeed) return false;
      response.success = !request.data;
      response.message = "served by roslibjs";
      return true;
    });
  },
  setParam(name, value) {
    return new Promise((resolve, reject) => new ROSLIB.Param({ros: T.ros, name}).set(value, () => resolve(true),
      (error) => reject(new Error(String(error)))));
  },
  getParam(name) {
    return new Promise((resolve, reject) => new ROSLIB.Param({ros: T.ros, name}).get((value) => resolve(value),
      (error) => reject(new Error(String(error)))));
  },
  getTopics() {
    return new Promise((resolve, reject) => T.ros.getTopics(resolve, (error) => reject(new Error(String(error)))));
  },
  getTopicType(name) {
    return new Promise((resolve, reject) => T.ros.getTopicType(name, resolve,
      (error) => reject(new Error(String(error)))));
  },
};
</script></head><body><h1>roslibjs</h1></body></html>
"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The page and roslibjs, served from a temp dir on 127.0.0.1."""
    if not ROSLIB.exists():
        pytest.fail(f"{ROSLIB} is missing (npm roslib in web/: `make deps`)")
    root: Path = tmp_path_factory.mktemp("page")
    (root / "index.html").write_text(PAGE)
    (root / "roslib.min.js").symlink_to(ROSLIB)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10.0)


@pytest.fixture(scope="module")
def bridge(rospy_node, ros_processes, roscore, tmp_path_factory) -> Iterator[BridgeUnderTest]:
    bridge = BridgeUnderTest(ros_processes, roscore.uri, tmp_path_factory.mktemp("bridge"), {"admin": EVERYTHING})
    bridge.start()
    yield bridge
    bridge.stop()


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard()


@pytest.fixture(scope="module")
def page(site, bridge, guard) -> Iterator[Any]:
    with chromium() as browser:
        context = browser.new_context()
        guard.attach(context)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.set_default_timeout(WAIT * 1000)
        page.goto(f"{site}/index.html")
        page.wait_for_function("() => window.ROSLIB && window.T")
        assert page.evaluate("([url, token]) => T.connect(url, token)", [bridge.url, bridge.token("admin")])
        page.errors = errors
        yield page
        context.close()


def received(page, topic: str) -> list[dict[str, Any]]:
    return page.evaluate("topic => T.received[topic] || []", topic)


def test_publish_reaches_a_rospy_subscriber(page):
    got: list[String] = []
    rospy.Subscriber("/js/to_ros", String, got.append, queue_size=100)
    publish = "([topic, text]) => T.publish(topic, 'std_msgs/String', {data: text})"
    # ROS drops what is published before the bridge's publisher and our subscriber have connected
    wait_for(lambda: page.evaluate(publish, ["/js/to_ros", "hello"]) or got, WAIT, "a first message", interval=0.2)
    start = len(got)
    for i in range(20):
        page.evaluate(publish, ["/js/to_ros", f"n{i}"])
    numbered = lambda: [m.data for m in got[start:] if m.data != "hello"]  # noqa: E731 - hellos in flight
    wait_for(lambda: len(numbered()) >= 20, WAIT, "20 messages in rospy")
    assert numbered() == [f"n{i}" for i in range(20)]


@pytest.mark.parametrize("compression", ["none", "cbor", "png"])
def test_subscribe_to_a_rospy_publisher(page, compression):
    topic = f"/js/from_ros_{compression.replace('-', '_')}"
    pub = rospy.Publisher(topic, String, queue_size=100)
    page.evaluate("([topic, compression]) => T.subscribe(topic, 'std_msgs/String', {compression})",
                  [topic, compression])
    wait_for(lambda: pub.get_num_connections() >= 1, WAIT, "the bridge to subscribe")
    wait_for(lambda: pub.publish(String("first")) or received(page, topic), WAIT, "a first message", interval=0.2)
    start = len(received(page, topic))
    for i in range(20):
        pub.publish(String(f"m{i} ✈"))
    numbered = lambda: [m["data"] for m in received(page, topic)[start:] if m["data"] != "first"]  # noqa: E731
    wait_for(lambda: len(numbered()) >= 20, WAIT, f"20 messages in the page ({compression})", interval=POLL)
    assert numbered() == [f"m{i} ✈" for i in range(20)]


def test_binary_fields_through_cbor(page):
    pub = rospy.Publisher("/js/image", CompressedImage, queue_size=10, latch=True)
    pub.publish(CompressedImage(format="jpeg", data=bytes(range(256)) * 4))
    page.evaluate("() => T.subscribe('/js/image', 'sensor_msgs/CompressedImage', {compression: 'cbor'})")
    wait_for(lambda: received(page, "/js/image"), WAIT, "the image in the page", interval=POLL)
    image = received(page, "/js/image")[0]
    assert image["format"] == "jpeg" and image["data"]["bytes"] == list(range(256)) * 4


def test_call_a_rospy_service(page):
    rospy.Service("/js/set_bool", SetBool, lambda req: SetBoolResponse(success=req.data, message=f"got {req.data}"))

    def refuse(_req):
        raise rospy.ServiceException("the handler refuses")

    rospy.Service("/js/refuse", Trigger, refuse)
    call = "([name, type, request]) => T.call(name, type, request)"
    answer = page.evaluate(call, ["/js/set_bool", "std_srvs/SetBool", {"data": True}])
    assert answer == {"ok": True, "value": {"success": True, "message": "got True"}}
    failed = page.evaluate(call, ["/js/refuse", "std_srvs/Trigger", {}])
    assert not failed["ok"] and "the handler refuses" in failed["error"]
    absent = page.evaluate(call, ["/js/absent", "std_srvs/Trigger", {}])
    assert not absent["ok"] and "/js/absent" in absent["error"] and "unavailable" in absent["error"], absent


def test_serve_a_service_that_rospy_calls(page):
    page.evaluate("() => { T.serve('/js/served', 'std_srvs/SetBool', true); "
                  "T.serve('/js/served_fails', 'std_srvs/SetBool', false); }")
    rospy.wait_for_service("/js/served", timeout=WAIT)
    proxy = rospy.ServiceProxy("/js/served", SetBool)
    answer = proxy(data=True)
    assert (answer.success, answer.message) == (False, "served by roslibjs")
    assert proxy(data=False).success is True
    rospy.wait_for_service("/js/served_fails", timeout=WAIT)
    with pytest.raises(rospy.ServiceException, match="failed"):
        rospy.ServiceProxy("/js/served_fails", SetBool)(data=True)
    assert page.evaluate("() => T.served") == [{"data": True}, {"data": False}, {"data": True}]


def test_get_and_set_params(page):
    assert page.evaluate("() => T.setParam('/js/param', {speed: 2.5, names: ['a', 'b']})") is True
    assert rospy.get_param("/js/param") == {"speed": 2.5, "names": ["a", "b"]}
    rospy.set_param("/js/from_rospy", [1, 2, 3])
    assert page.evaluate("() => T.getParam('/js/from_rospy')") == [1, 2, 3]
    assert page.evaluate("() => T.getParam('/js/param/speed')") == 2.5
    assert page.evaluate("() => T.getParam('/js/never_set')") is None


def test_list_topics(page):
    rospy.Publisher("/js/listed", String, queue_size=1)
    def listed() -> bool:
        answer = page.evaluate("() => T.getTopics()")
        topics = dict(zip(answer["topics"], answer["types"], strict=True))
        return (topics.get("/js/listed") == "std_msgs/String"
                and topics.get("/js/image") == "sensor_msgs/CompressedImage")

    wait_for(listed, WAIT, "/js/listed in ros.getTopics()", interval=POLL)
    assert page.evaluate("() => T.getTopicType('/js/listed')") == "std_msgs/String"


def test_the_page_stayed_clean(page, guard, bridge):
    assert page.errors == [], page.errors
    assert page.evaluate("() => T.statuses") == []  # roslibjs never asked for statuses: the bridge sent none
    assert any(url.startswith(f"ws://127.0.0.1:{bridge.port}") for url in guard.requests)
    assert guard.external == [], guard.external
