#!/usr/bin/env python3
"""`make demo`: the whole simulated SkyPost site and the web app, then a first order placed, followed and picked up
through the public REST API, as a customer with the app would.

Runs until Ctrl-C, which stops every process it started. With --once it exits after the pickup: 0 when the parcel
was picked up with the QR code decoded from the API's PNG, 1 with the reason otherwise.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from pathlib import Path

from skypost_sim.demo_customer import DemoCustomer, OrderError
from skypost_sim.demo_site import DEMO_ACCOUNTS, DemoConfig, DemoSite
from skypost_sim.site_runner import ROOT, SiteError
from skypost_sim.web_stack import WebStackError

ARTIFACTS = ROOT / "artifacts" / "demo"


def say(text: str) -> None:
    """Print; output nobody reads any more (a pipe whose reader died with the same Ctrl-C) must not stop the
    demo from stopping its processes."""
    try:
        print(text, flush=True)
    except OSError:  # BrokenPipeError above all: drop this and all later output
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def banner(site: DemoSite, ros: dict[str, int], took: float) -> None:
    for note in site.notes:
        say(f"NOTE: {note}")
    say(f"site up in {took:.0f}s: {ros['drones']} drones ({ros['idle']} idle), {ros['lockers']} lockers online, "
        f"sim speed {site.config.speed:g}x")
    say(f"  web app:        {site.web_url}  (REST API under /api/v1, status /health)")
    say(f"  admin panel:    {site.web_url}/admin")
    say(f"  API docs:       {site.web_url}/api/v1/docs")
    say(f"  bridge:         {site.bridge_url}  (rosbridge v2, authentication on)")
    say(f"  fleet metrics:  {site.metrics_url() or f'off (port {site.metrics_port} was taken meanwhile)'}")
    say(f"  ROS master:     {site.site.master_uri}  (logs in {site.artifacts})")
    say(f"  accounts:       {', '.join(DEMO_ACCOUNTS)} - password {site.config.password}")


def first_order(site: DemoSite, args: argparse.Namespace) -> None:
    customer = DemoCustomer(site.api, say)
    me = customer.login("customer", site.config.password)
    say(f"logged in as {me['username']} through POST /api/v1/auth/login")
    order = customer.place_order()
    locker = order["locker_id"]
    site.watch_display(locker, lambda text: say(f"  {locker} screen: {text}"))
    order = customer.follow(order["id"], "AWAITING_PICKUP", args.timeout, site.dead)
    code = customer.pickup_code(order["id"])
    site.wait_bridge_service(30)
    for attempt in range(1, args.pickup_tries + 1):
        say(f"the customer shows the QR code at {locker} (attempt {attempt})")
        site.show_code(locker, code)
        try:
            order = customer.follow(order["id"], "COMPLETED", args.pickup_timeout, site.dead)
            break
        except OrderError:
            if attempt == args.pickup_tries or customer.get(order["id"])["status"] != "AWAITING_PICKUP":
                raise
    delivery = order["delivery"] or {}
    say(f"PICKED UP: order {order['ref']} collected from {locker} cell {delivery.get('cell_id')} "
        f"(delivered by {delivery.get('drone_id')})")


def run(args: argparse.Namespace) -> int:
    config = DemoConfig(args.artifacts, speed=args.speed, web_port=args.web_port, bridge_port=args.bridge_port,
                        ros_port=args.ros_port)
    try:
        site = DemoSite(config, say, lock_timeout=args.startup_timeout + 60)
    except (SiteError, OSError) as exc:
        say(f"FAILED: {exc}")
        return 1
    say(f"SkyPost demo: starting the simulated site and the web app (logs in {args.artifacts})")
    started = time.monotonic()
    try:
        site.start_web(args.startup_timeout)
        banner(site, site.wait_ros(args.startup_timeout), time.monotonic() - started)
        if args.record:
            bag = args.artifacts.resolve() / "mission.bag"
            site.record(bag)
            say(f"recording the mission into {bag} (replay: see the README, 'Field techs: replay a mission')")
        try:
            first_order(site, args)
        except OrderError as exc:
            if args.once:
                raise
            say(f"the first order did not finish: {exc}")
        if args.once:
            say("demo done (--once)")
            return 0
        say("running; Ctrl-C stops every process of the demo")
        pause = threading.Event()
        while not site.dead():
            pause.wait(1.0)
        say(f"FAILED: {site.dead()}")
        return 1
    except (SiteError, TimeoutError, OrderError, WebStackError, OSError) as exc:
        say(f"FAILED: {exc}")
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not leave half the site running
            signal.signal(sig, signal.SIG_IGN)
        say("stopping every process of the demo...")
        stopping = time.monotonic()
        site.stop()
        say(f"stopped in {time.monotonic() - stopping:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--once", action="store_true", help="one order to its pickup, then exit with its outcome")
    parser.add_argument("--speed", type=float, default=float(os.environ.get("SKYPOST_DEMO_SPEED", 5.0)),
                        help="sim seconds per wall second (default 5)")
    parser.add_argument("--web-port", type=int, default=8080,
                        help="web app port (busy: a free one, with a note; 0: any free one)")
    parser.add_argument("--bridge-port", type=int, default=9090,
                        help="bridge port (busy: a free one, with a note; 0: any free one)")
    parser.add_argument("--ros-port", type=int, default=11311,
                        help="ROS master port (busy: a free one, with a note; 0: any free one)")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS,
                        help="databases (new each run) and logs (default artifacts/demo)")
    parser.add_argument("--startup-timeout", type=float, default=180.0, help="s for the site and web app to come up")
    parser.add_argument("--timeout", type=float, default=180.0, help="s for the first order to reach its locker")
    parser.add_argument("--pickup-timeout", type=float, default=45.0, help="s for each pickup attempt")
    parser.add_argument("--pickup-tries", type=int, default=2, help="times the customer shows the code")
    parser.add_argument("--record", action="store_true", help="rosbag of the mission topics: artifacts/mission.bag")
    args = parser.parse_args()
    if args.speed <= 0 or min(args.startup_timeout, args.timeout, args.pickup_timeout) <= 0 or args.pickup_tries < 1:
        parser.error("--speed and every timeout must be positive, --pickup-tries at least 1")
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args)
    except KeyboardInterrupt:
        say("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
