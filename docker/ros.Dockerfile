# SkyPost ROS nodes (drone, locker, fleet, bridge) on ROS Noetic.
# Build from the repository root:  docker build -f docker/ros.Dockerfile -t skypost-ros .
FROM ros:noetic-ros-base

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends \
      python3-pip python3-venv \
      ros-noetic-actionlib ros-noetic-cv-bridge ros-noetic-std-srvs ros-noetic-diagnostic-msgs \
      ros-noetic-sensor-msgs ros-noetic-geometry-msgs ros-noetic-rosbag \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/skypost
COPY requirements/ requirements/
RUN pip3 install --no-cache-dir -c requirements/constraints.txt -r requirements/base.txt \
    $(ls requirements/*.txt | grep -v -e constraints -e base | sed 's/^/-r /')

# The catkin workspace: the package itself plus the interface stand-ins (a real Clover image has its own).
COPY . /opt/skypost/src/skypost
RUN rm -rf /opt/skypost/src/skypost/catkin_ws /opt/skypost/src/skypost/web \
    && ln -s /opt/skypost/src/skypost/interfaces/clover /opt/skypost/src/clover \
    && ln -s /opt/skypost/src/skypost/interfaces/mavros_msgs /opt/skypost/src/mavros_msgs \
    && . /opt/ros/noetic/setup.sh \
    && catkin_make -C /opt/skypost -DCATKIN_ENABLE_TESTING=OFF install -DCMAKE_INSTALL_PREFIX=/opt/skypost/install \
    && rm -rf /opt/skypost/build /opt/skypost/devel

COPY docker/ros-entrypoint.sh /ros-entrypoint.sh
ENTRYPOINT ["/ros-entrypoint.sh"]
# The production site runs the real-hardware stack; override per service in compose.yaml.
CMD ["roslaunch", "skypost", "skypost.launch", "sim:=false"]
