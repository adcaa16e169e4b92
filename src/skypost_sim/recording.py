"""Mission recordings: which topics a rosbag of a site keeps, the recorder's command, and whether it is connected.

Used by the demo and the scenario runner; a field tech replays the bag with `rosbag play` (see the README)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from xmlrpc.client import ServerProxy

import rosgraph


def mission_topics(drones: Iterable[str], lockers: Iterable[str]) -> list[str]:
    """Every delivery transition, the fleet's summaries, each drone's state and pose, each locker's state and
    pickups: enough to replay a mission and to answer 'what happened to this parcel'."""
    topics = ["/fleet/delivery_status", "/fleet/summary"]
    for drone in drones:
        topics += [f"/{drone}/state", f"/{drone}/mavros/local_position/pose"]
    for locker in lockers:
        topics += [f"/lockers/{locker}/state", f"/lockers/{locker}/pickups"]
    return topics


def recorder_command(path: Path, topics: Iterable[str], node_name: str) -> list[str]:
    return ["rosbag", "record", "-O", str(path), f"__name:={node_name}", *topics]


def connected(publisher: str, topic: str, subscriber: str, master_uri: str | None = None) -> bool:
    """Whether `publisher` has a live connection to `subscriber` on `topic` (the publisher node's bus info)."""
    try:
        uri = rosgraph.Master("/skypost_recording_probe", master_uri=master_uri).lookupNode(publisher)
        _code, _msg, connections = ServerProxy(uri).getBusInfo("/skypost_recording_probe")
    except Exception:  # not up yet, or gone: not connected
        return False
    return any(c[1] == subscriber and c[4] == topic for c in connections)
