# SkyPost ROS nodes (fleet manager, bridge, locker and drone nodes) on ROS 1 Noetic as Debian 12 packages it: the
# same packages CI tests against (scripts/apt-packages.txt). Not the ros:noetic image: that is Ubuntu 20.04 with
# Python 3.8, and SkyPost needs Python 3.10 or newer.
# Build from the repository root:  docker build -f docker/ros.Dockerfile -t skypost-ros .

# Debian's point releases move package versions: the release, not each version, is pinned.
# hadolint global ignore=DL3008
FROM debian:bookworm-slim AS runtime
ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 ROS_PYTHON_VERSION=3
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3 python3-rospy python3-roslaunch python3-rosmaster rosout rosbash python3-rosbag python3-rostopic \
      python3-rosservice python3-rosnode python3-rosparam python3-rosmsg python3-rosgraph python3-roslib python3-genpy \
      python3-actionlib python3-actionlib-msgs python3-cv-bridge python3-std-msgs python3-std-srvs \
      python3-geometry-msgs python3-sensor-msgs python3-diagnostic-msgs python3-rosgraph-msgs python3-pigpio \
    && rm -rf /var/lib/apt/lists/*

FROM runtime AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake catkin python3-catkin-pkg python3-genmsg python3-venv ros-message-generation \
      ros-message-runtime ros-std-msgs ros-std-srvs ros-geometry-msgs ros-sensor-msgs ros-diagnostic-msgs \
      ros-actionlib-msgs ros-rosgraph-msgs \
      libstd-msgs-dev libstd-srvs-dev libgeometry-msgs-dev libsensor-msgs-dev libdiagnostic-msgs-dev \
      libactionlib-msgs-dev \
    && rm -rf /var/lib/apt/lists/*
# What Debian does not ship, in a venv that sees Debian's ROS packages (as `make deps` does)
COPY requirements/constraints.txt docker/ros-requirements.txt /tmp/
RUN python3 -m venv --system-site-packages /opt/skypost/venv \
    && /opt/skypost/venv/bin/pip install --no-cache-dir -c /tmp/constraints.txt -r /tmp/ros-requirements.txt
# The catkin workspace: the skypost package and the clover / mavros_msgs stand-ins (a Clover has the real ones)
COPY package.xml CMakeLists.txt setup.py /opt/skypost/ws/src/skypost/
COPY msg /opt/skypost/ws/src/skypost/msg
COPY srv /opt/skypost/ws/src/skypost/srv
COPY action /opt/skypost/ws/src/skypost/action
COPY src /opt/skypost/ws/src/skypost/src
COPY nodes /opt/skypost/ws/src/skypost/nodes
COPY launch /opt/skypost/ws/src/skypost/launch
COPY config /opt/skypost/ws/src/skypost/config
COPY interfaces/clover /opt/skypost/ws/src/clover
COPY interfaces/mavros_msgs /opt/skypost/ws/src/mavros_msgs
RUN catkin_make -C /opt/skypost/ws install -DCMAKE_BUILD_TYPE=Release -DCATKIN_ENABLE_TESTING=OFF \
      -DPYTHON_EXECUTABLE=/opt/skypost/venv/bin/python -DCMAKE_INSTALL_PREFIX=/opt/skypost/install

FROM runtime
COPY --from=build /opt/skypost/venv /opt/skypost/venv
COPY --from=build /opt/skypost/install /opt/skypost/install
COPY docker/ros-entrypoint.sh /ros-entrypoint.sh
# dialout: a locker node on this host reads the controller's USB serial port
RUN useradd --create-home --uid 10001 --groups dialout skypost \
    && mkdir -p /var/lib/skypost && chown skypost:skypost /var/lib/skypost
# The venv first on PATH: the nodes' `#!/usr/bin/env python3` then finds the venv's packages too
ENV PATH=/opt/skypost/venv/bin:$PATH ROS_HOME=/var/lib/skypost/ros
USER 10001
WORKDIR /var/lib/skypost
ENTRYPOINT ["/ros-entrypoint.sh"]
# A site host runs the fleet manager and the bridge; compose.yaml sets the site's args.
CMD ["roslaunch", "skypost", "skypost.launch", "sim:=false", "drones:=0", "lockers:=0"]
