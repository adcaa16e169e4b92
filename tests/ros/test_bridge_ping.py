"""Dead connections: a client that stops answering pings is dropped after ping_interval + ping_timeout, and what it
created in ROS goes with it; a client that answers (any WebSocket library does) stays connected through the pings."""
from __future__ import annotations

import json

import pytest
import rosgraph
from bridge_stack import EVERYTHING, BridgeUnderTest, Stalled
from harness import wait_for

ws_client = pytest.importorskip("websockets.sync.client")

pytestmark = pytest.mark.ros
PING_INTERVAL = 1.0
PING_TIMEOUT = 1.0
WAIT = 30.0
TOPIC = "/ping_test/chatter"


@pytest.fixture(scope="module")
def bridge(rospy_node, ros_processes, roscore, tmp_path_factory):
    bridge = BridgeUnderTest(ros_processes, roscore.uri, tmp_path_factory.mktemp("bridge"), {"admin": EVERYTHING},
                             {"ping_interval": PING_INTERVAL, "ping_timeout": PING_TIMEOUT}, launch=False)
    bridge.start()
    yield bridge
    bridge.stop()


def bridge_subscribes(topic: str) -> bool:
    _publishers, subscribers, _services = rosgraph.Master("/ping_test").getSystemState()
    return any(name == topic and "/bridge" in nodes for name, nodes in subscribers)


def test_a_client_that_never_answers_pings_is_dropped_and_torn_down(bridge):
    with ws_client.connect(bridge.url, open_timeout=WAIT, proxy=None) as lively:
        lively.send(json.dumps({"op": "auth", "mac": bridge.token("admin")}))
        silent = Stalled(bridge.port, WAIT)
        try:
            silent.send({"op": "auth", "mac": bridge.token("admin")})
            silent.send({"op": "subscribe", "topic": TOPIC, "type": "std_msgs/String"})
            wait_for(lambda: bridge_subscribes(TOPIC), WAIT, "the bridge to subscribe for the silent client")
            received = silent.read_until_closed()   # returns when the server closes the socket
        finally:
            silent.close()
        assert b"\x89" in received, "the server pinged the silent client before dropping it"
        wait_for(lambda: not bridge_subscribes(TOPIC), WAIT, "the silent client's subscription torn down")

        # the lively client lived through the same pings (its library answers them) and still works
        lively.send(json.dumps({"op": "call_service", "id": "still-here", "service": "/rosapi/get_time"}))
        answer = json.loads(lively.recv(timeout=WAIT))
        assert answer["id"] == "still-here" and answer["result"] is True, answer
    assert bridge.alive()
