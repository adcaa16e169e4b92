"""The web app's only way to ROS: the rosbridge protocol (roslibpy), behind the RosLink interface."""
