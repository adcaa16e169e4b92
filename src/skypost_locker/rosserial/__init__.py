"""A generic rosserial host (protocol revision 0xFE): codec (pure), link (serial thread), session (negotiation,
time sync, logs, sync loss; pure), ROS endpoints (rospy) and `RosserialHost` tying them together.
It knows nothing about lockers: every topic comes from the device's TopicInfo."""
