#!/usr/bin/env bash
# Lay out catkin_ws/src for the repository-root package `skypost`, without a symlink loop:
# catkin_ws/src/skypost is a real folder of links to the root's entries (all but the workspace itself and
# things ROS never needs), so rosrun/roslaunch can search the package folder safely.
# Where the real clover / mavros_msgs packages are not installed, SkyPost's stand-ins are linked in too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/catkin_ws/src"
pkg="$src/skypost"
mkdir -p "$src"
[ -L "$pkg" ] && rm -f "$pkg"   # an older layout linked the root itself
mkdir -p "$pkg"
skip=" catkin_ws .git .venv .make artifacts web tests node_modules docker "
for entry in "$root"/* "$root"/.ci; do
  name=$(basename "$entry")
  [[ "$skip" == *" $name "* ]] && continue
  [ -e "$entry" ] || continue
  ln -sfn "../../../$name" "$pkg/$name"
done
for link in "$pkg"/*; do   # drop links to entries that are gone
  [ -e "$link" ] || rm -f "$link"
done
# Look for real packages with our own workspace taken out of the Python path.
foreign_path=$(tr ':' '\n' <<<"${PYTHONPATH:-}" | grep -v "^$root" | paste -sd: - || true)
for name in clover mavros_msgs; do
  [ -d "$root/interfaces/$name" ] || continue
  origin=$(PYTHONPATH="$foreign_path" /usr/bin/python3 -c \
    "import importlib.util as u; s = u.find_spec('$name'); print(s.origin if s else '')" 2>/dev/null || true)
  if [ -n "$origin" ]; then
    echo "Using the installed $name ($origin)"
    rm -f "$src/$name"
  else
    ln -sfn "../../interfaces/$name" "$src/$name"
  fi
done
