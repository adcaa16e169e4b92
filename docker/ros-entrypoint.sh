#!/bin/bash
# Source ROS and the SkyPost install space, then run the command.
set -e
source /opt/ros/noetic/setup.bash
source /opt/skypost/install/setup.bash
exec "$@"
