"""The generic rosserial host (nodes/serial_node) against a Python device on a pty: topics from TopicInfo, md5
refusal, time sync, device logs to rosout, messages both ways, tx stop at shutdown."""
import io
import struct
import threading

import pytest
from harness import ROOT, wait_for
from rosserial_device import DeviceTopic, FakeDevice

from skypost_locker.rosserial.codec import LogLevel, TopicId, TopicInfo, decode_time

pytestmark = pytest.mark.ros

NS = "/dev1"


@pytest.fixture(scope="module")
def device(rospy_node):
    from std_msgs.msg import Int32, String, UInt8

    topics = [
        DeviceTopic(TopicInfo(100, "chatter", "std_msgs/String", String._md5sum, 64), True),
        DeviceTopic(TopicInfo(101, "cmd", "std_msgs/UInt8", UInt8._md5sum, 8), False),
        DeviceTopic(TopicInfo(102, "stale", "std_msgs/Int32", "0" * 32, 8), True),  # built from another .msg
        DeviceTopic(TopicInfo(103, "nothing", "no_such_pkg/Thing", "1" * 32, 8), True),
    ]
    assert Int32._md5sum != "0" * 32
    dev = FakeDevice(topics)
    yield dev
    dev.unplug()


@pytest.fixture(scope="module")
def node(ros_processes, device):
    proc = ros_processes.start("serial_node", [str(ROOT / "nodes" / "serial_node"), "__name:=serial_node",
                                               f"__ns:={NS}", f"_port:={device.port}", "_sync_timeout:=2.0"])
    wait_for(lambda: device.received.topic_requests >= 1, 60, "the topic request")
    return proc


def test_topics_time_logs_and_messages(node, device, ros_processes):
    import rospy
    from rosgraph_msgs.msg import Log
    from std_msgs.msg import String, UInt8

    logs, chatter = [], []
    lock = threading.Lock()

    def keep(store):
        def callback(msg):
            with lock:
                store.append(msg)
        return callback

    rospy.Subscriber("/rosout", Log, keep(logs), queue_size=100)
    rospy.Subscriber(f"{NS}/chatter", String, keep(chatter), queue_size=10)
    cmd = rospy.Publisher(f"{NS}/cmd", UInt8, queue_size=10)

    def rosout_has(text):
        with lock:
            return any(text in entry.msg for entry in logs)

    wait_for(lambda: rospy.get_published_topics(NS) and any(name == f"{NS}/chatter" for name, _t in
                                                          rospy.get_published_topics(NS)), 60, "chatter advertised")
    published = {name for name, _t in rospy.get_published_topics(NS)}
    assert f"{NS}/stale" not in published and f"{NS}/nothing" not in published

    device.log(LogLevel.WARN, "door 3 forced")
    wait_for(lambda: rosout_has("device: door 3 forced"), 30, "the device's log line on rosout")

    def node_logged(text):  # logged at negotiation, maybe before our /rosout subscription connected: read its log
        return text in ros_processes.log_text("serial_node") or rosout_has(text)

    wait_for(lambda: node_logged("md5sum mismatch for std_msgs/Int32"), 30, "the md5 refusal logged")
    assert node_logged("no_such_pkg/Thing")

    device.request_time()
    wait_for(lambda: device.received.time_replies >= 1, 30, "a time reply")
    reply = [f for f in device.received.frames if f.topic == TopicId.TIME][-1]
    secs, _nsecs = decode_time(reply.payload)
    assert abs(secs - rospy.Time.now().secs) < 30

    buffer = io.BytesIO()
    String(data="hello from the device").serialize(buffer)
    wait_for(lambda: chatter or device.send(100, buffer.getvalue()), 30, "a device message on chatter")
    assert chatter[0].data == "hello from the device"

    wait_for(lambda: device.frames_on(101) or cmd.publish(UInt8(data=7)), 30, "a ROS message reaching the device")
    assert device.frames_on(101)[0].payload == struct.pack("<B", 7)

    assert rospy.get_param(f"{NS}/serial_node/actual_port") == device.port
    ros_processes.stop(node)
    wait_for(lambda: device.received.tx_stops >= 1, 30, "tx stop when the host shuts down")
