#!/bin/bash
# The SkyPost install space on top of Debian's ROS (catkin's setup adds its paths to ROS_PACKAGE_PATH,
# PYTHONPATH and PATH), then the command.
set -e
# shellcheck disable=SC1091
source /opt/skypost/install/setup.bash
exec "$@"
