#!/usr/bin/env python3
"""Fleet dispatch latency: /fleet/submit_delivery -> Deliver goal sent, with fake drones and lockers.

Starts its own roscore on a free port, the fake drones and lockers of the fleet's tests (10 drones, 2
lockers with 40 cells each) and the fleet manager; then (1) 100 deliveries one after the other (at most 10 in
the air, so none waits for a drone), (2) bursts of 10 at once on an idle fleet.
Latency is taken from the fleet's own records (IN_FLIGHT transition time - accepted time) and, from the
client's side, from the submit call to the IN_FLIGHT status message. Prints progress, then one JSON line.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import numpy as np  # noqa: E402
import yaml  # noqa: E402
from harness import Processes, Roscore, wait_for  # noqa: E402

DRONES = 10
SEQUENTIAL = 100
BURSTS = 5


def world_file(directory: Path) -> Path:
    data = {
        "frame_id": "map",
        "bases": [{"id": "base_1", "position": [0, 0, 0], "marker_id": 100}],
        "lockers": [
            {"id": f"locker_{i}", "position": pos, "marker_id": 10 + i, "cells": ["S"] * 30 + ["M"] * 10}
            for i, pos in ((1, [24, 8, 0]), (2, [-10, 30, 0]))
        ],
        "drones": [
            {"id": f"drone_{i}", "base": "base_1", "start": [2.0 * i, -2.0]} for i in range(1, DRONES + 1)
        ],
    }
    path = directory / "world.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def percentiles(values: list[float]) -> dict:
    ms = np.array(values) * 1000
    return {
        "n": len(values),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="skypost-bench-dispatch-"))
    core = Roscore("bench_dispatch", {"/skypost/world_file": str(world_file(tmp))})
    processes = Processes(core.env, core.processes.log_dir)
    try:
        core.start()
        core.export()
        import rospy
        from skypost.msg import DeliveryStatus, FleetSummary
        from skypost.srv import SubmitDelivery

        drones = ",".join(f"drone_{i}" for i in range(1, DRONES + 1))
        fakes = ROOT / "tests" / "ros" / "fakes"
        processes.start(
            "fake_drones",
            [
                sys.executable,
                str(fakes / "fake_drones.py"),
                "__name:=fake_drones",
                f"_drones:={drones}",
                "_leg_time:=0.3",
            ],
        )
        processes.start(
            "fake_lockers",
            [sys.executable, str(fakes / "fake_lockers.py"), "__name:=fake_lockers", "_auto_pickup:=0.05"],
        )
        processes.start(
            "fleet",
            [
                sys.executable,
                str(ROOT / "nodes" / "fleet_manager"),
                "__name:=fleet_manager",
                f"_db_path:={tmp / 'fleet.sqlite'}",
                "_drone_timeout:=5",
                "_cruise_speed:=5",
            ],
        )
        rospy.init_node("bench_dispatch", disable_signals=True)
        in_flight: dict[str, tuple[float, DeliveryStatus]] = {}
        lock = threading.Lock()

        def on_status(msg: DeliveryStatus) -> None:
            if msg.state_name == "IN_FLIGHT":
                with lock:
                    in_flight.setdefault(msg.delivery_id, (time.monotonic(), msg))

        rospy.Subscriber("/fleet/delivery_status", DeliveryStatus, on_status, queue_size=1000)
        summary: list[FleetSummary] = []
        rospy.Subscriber("/fleet/summary", FleetSummary, lambda m: summary.append(m), queue_size=5)
        rospy.wait_for_service("/fleet/submit_delivery", timeout=120)
        submit = rospy.ServiceProxy("/fleet/submit_delivery", SubmitDelivery, persistent=True)
        wait_for(lambda: rospy.get_param("/fake_drones/leg_time", None) is not None, 60, "fakes")
        warm = "warm-up"
        submit(warm, "", "locker_1", "S", 0, 0.2)
        wait_for(lambda: warm in in_flight, 120, "the warm-up delivery to fly")

        sent: dict[str, float] = {}

        def one(delivery_id: str, locker: str) -> None:
            sent[delivery_id] = time.monotonic()
            resp = submit(delivery_id, "", locker, "S", 0, 0.2)
            assert resp.success, resp.message

        def idle_fleet() -> None:
            mark = len(summary)
            wait_for(
                lambda: len(summary) > mark + 1 and summary[-1].drones_idle == DRONES, 120, "an idle fleet"
            )

        for i in range(SEQUENTIAL):
            if i % DRONES == 0:
                idle_fleet()  # latency without waiting for a drone: never more than DRONES in the air
            delivery_id = f"seq-{i}"
            one(delivery_id, f"locker_{1 + i % 2}")
            wait_for(lambda d=delivery_id: d in in_flight, 60, f"{delivery_id} in flight")
            if (i + 1) % 25 == 0:
                print(f"sequential: {i + 1}/{SEQUENTIAL}", flush=True)
        for b in range(BURSTS):
            idle_fleet()  # then a burst of DRONES deliveries at once
            ids = [f"burst-{b}-{k}" for k in range(DRONES)]
            for k, delivery_id in enumerate(ids):
                one(delivery_id, f"locker_{1 + k % 2}")
            wait_for(lambda ids=ids: all(d in in_flight for d in ids), 120, f"burst {b} in flight")
            print(f"burst {b + 1}/{BURSTS} dispatched", flush=True)

        def stats(prefix: str) -> dict:
            ids = [d for d in sent if d.startswith(prefix)]
            fleet_side = [in_flight[d][1].updated.to_sec() - in_flight[d][1].created.to_sec() for d in ids]
            client_side = [in_flight[d][0] - sent[d] for d in ids]
            return {"fleet": percentiles(fleet_side), "client": percentiles(client_side)}

        result = {"drones": DRONES, "sequential": stats("seq-"), "burst": stats("burst-")}
        print(
            f"sequential p50 {result['sequential']['fleet']['p50_ms']} ms, "
            f"burst p99 {result['burst']['fleet']['p99_ms']} ms (fleet clock)",
            flush=True,
        )
        rospy.signal_shutdown("benchmark done")
        print(json.dumps(result))
    finally:
        processes.stop_all()
        core.stop()


if __name__ == "__main__":
    main()
