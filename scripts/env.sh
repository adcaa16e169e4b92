# Source this file to use SkyPost from a shell: the venv first on PATH, then the catkin workspace.
#   source scripts/env.sh
_skypost_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SKYPOST_ROOT="$_skypost_root"
export PATH="$_skypost_root/.venv/bin:$PATH"
if [ -f "$_skypost_root/catkin_ws/devel/setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_skypost_root/catkin_ws/devel/setup.bash"
fi
export ROS_PYTHON_VERSION=3
unset _skypost_root
