#!/usr/bin/env python3
"""`make demo`: the simulated SkyPost site in one roslaunch, a first order, its progress line by line.

Runs until Ctrl-C (which stops every process it started). With --once it exits after the first order ends:
0 when it was delivered and picked up, 1 with the reason otherwise.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import uuid

from skypost_sim.site_runner import ROOT, Site, wait_until

ARTIFACTS = ROOT / "artifacts" / "demo"


def run(args: argparse.Namespace) -> int:
    site = Site(ARTIFACTS, {"speed": args.speed, "drones": args.drones, "lockers": args.lockers,
                            "fleet_db": ARTIFACTS / "fleet.sqlite"})
    print(f"SkyPost demo: ROS master {site.master_uri}, logs in {ARTIFACTS}", flush=True)
    try:
        site.export_env()
        wait_until(site.master_up, 60, "the ROS master", site)
        import rospy
        from skypost.msg import DeliveryStatus, FleetSummary
        from skypost.srv import SubmitDelivery

        rospy.init_node("skypost_demo", anonymous=True, disable_signals=True)
        summary: list[FleetSummary] = []
        rospy.Subscriber("/fleet/summary", FleetSummary, lambda m: summary.__setitem__(slice(None), [m]),
                         queue_size=1)
        wait_until(lambda: summary and summary[0].drones_idle > 0 and summary[0].lockers_online > 0, 180,
                   "idle drones and an online locker in /fleet/summary", site)
        s = summary[0]
        print(f"site up: {s.drones_total} drones ({s.drones_idle} idle), {s.lockers_online} lockers online")
        print("  bridge (rosbridge v2):  ws://127.0.0.1:9090")
        print("  field techs:            source scripts/env.sh && "
              f"ROS_MASTER_URI={site.env['ROS_MASTER_URI']} rostopic echo /fleet/delivery_status")
        delivery_id = f"demo-{uuid.uuid4().hex[:8]}"
        done = threading.Event()
        outcome: list[DeliveryStatus] = []

        def on_status(msg: DeliveryStatus) -> None:
            if msg.delivery_id != delivery_id:
                return
            eta = f", eta {msg.eta:.0f}s" if msg.eta == msg.eta else ""
            where = f" drone={msg.drone_id}" if msg.drone_id else ""
            cell = f" {msg.locker_id}/cell {msg.cell_id}" if msg.cell_id else ""
            print(f"  [{msg.header.stamp.to_sec():7.1f}s sim] {msg.state_name:<16}{where}{cell}{eta}"
                  f"{'  (' + msg.reason + ')' if msg.reason else ''}", flush=True)
            if msg.state in (DeliveryStatus.AWAITING_PICKUP, DeliveryStatus.COMPLETED, DeliveryStatus.FAILED,
                             DeliveryStatus.CANCELLED):
                outcome[:] = [msg]
                done.set()

        rospy.Subscriber("/fleet/delivery_status", DeliveryStatus, on_status, queue_size=100)
        rospy.wait_for_service("/fleet/submit_delivery", timeout=30)
        submit = rospy.ServiceProxy("/fleet/submit_delivery", SubmitDelivery)
        answer = submit(delivery_id=delivery_id, order_ref="demo order", locker_id="", cell_size="S", priority=0,
                        weight_kg=0.5)
        if not answer.success:
            print(f"order refused: {answer.message}")
            return 1
        print(f"first order placed: delivery {delivery_id}")
        if not args.once:
            print("running; Ctrl-C stops every process of the demo")
            while site.alive():
                done.wait(1.0)
            return 0 if not site.alive() else 1
        if not done.wait(args.timeout):
            print(f"FAILED: delivery {delivery_id} did not reach the locker within {args.timeout:.0f}s")
            return 1
        final = outcome[0]
        if final.state == DeliveryStatus.AWAITING_PICKUP:
            print(f"delivered into {final.locker_id} cell {final.cell_id} "
                  f"({'confirmed by the locker' if final.drop_confirmed else 'UNCONFIRMED'})")
            return 0 if final.drop_confirmed else 1
        print(f"FAILED: delivery ended {final.state_name}: {final.reason}")
        return 1
    except (RuntimeError, TimeoutError) as exc:
        print(f"FAILED: {exc}")
        return 1
    finally:
        print("stopping the site...", flush=True)
        site.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="one order, then exit with its outcome")
    parser.add_argument("--speed", type=float, default=float(os.environ.get("SKYPOST_DEMO_SPEED", 5.0)),
                        help="sim seconds per wall second")
    parser.add_argument("--drones", type=int, default=3)
    parser.add_argument("--lockers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for the first order (--once)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
