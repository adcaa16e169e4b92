#!/usr/bin/env python3
"""`make scenario`: a load scenario on the simulated site, with a report.

N drones, M lockers (a generated world), K orders arriving as a Poisson process in sim time, optional faults, sim
time faster than real time. Customers pick their parcels up after a random delay. Every order ends terminal: what
cannot finish (parcel in an offline locker, timeout) is cancelled at the end and said so in the report.
Writes artifacts/scenario/<name>/: report.md, PNG plots, history.json (everything the figures come from), world.yaml,
logs, and with --record mission.bag.

Faults (--fault, repeatable): KIND@T[=VALUE][:TARGET], T in sim s from the start:
  battery_sag@120=0.6[:drone_2]   the drone loses that fraction of its charge at once (random flying drone)
  drone_lost@300[:drone_3]        the drone's autopilot link stops for good (telemetry_stop)
  locker_offline@200[:locker_2]   the locker's simulated controller board is stopped (the locker goes OFFLINE)
  wind@60=8                       wind on every drone (m/s along x)
Exit code: 0 when every order ended COMPLETED, FAILED or CANCELLED, 1 otherwise or on a site failure.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import shutil
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

from skypost_common.world import load_world
from skypost_sim.recording import mission_topics
from skypost_sim.report import RunInfo, build_records, headline, render_markdown
from skypost_sim.scenario_plan import PlanError, check_fault_targets, parse_fault, plan_orders
from skypost_sim.site_runner import ROOT, Site, SiteError, wait_until
from skypost_sim.worldgen import generate_world, write_world

ARTIFACTS = ROOT / "artifacts" / "scenario"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", default="", help="report folder name (default from the sizes and seed)")
    parser.add_argument("--drones", type=int, default=3)
    parser.add_argument("--lockers", type=int, default=2)
    parser.add_argument("--orders", type=int, default=10)
    parser.add_argument("--rate", type=float, default=2.0, help="orders per sim minute (Poisson)")
    parser.add_argument("--speed", type=float, default=10.0, help="sim seconds per wall second asked of the sim")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pickup-mean", type=float, default=120.0,
                        help="mean sim s from the parcel in its cell to the customer at the locker")
    parser.add_argument("--pickup-tries", type=int, default=3,
                        help="pickup attempts per customer; a locker where this many fail in a row stops serving")
    parser.add_argument("--customer-timeout", type=float, default=60.0,
                        help="wall s one pickup attempt may take before it counts as failed")
    parser.add_argument("--fleet-picks-locker", action="store_true",
                        help="orders name no locker (the fleet picks); default: each customer picks one at random")
    parser.add_argument("--fault", action="append", default=[], metavar="KIND@T[=VALUE][:TARGET]")
    parser.add_argument("--record", action="store_true", help="rosbag of the mission topics into the report folder")
    parser.add_argument("--world", type=Path, help="use this world file instead of generating one")
    parser.add_argument("--timeout", type=float, default=3600.0, help="wall s for the run once the site is up")
    parser.add_argument("--startup-timeout", type=float, default=300.0, help="wall s for the site to come up")
    parser.add_argument("--stall", type=float, default=900.0,
                        help="sim s without any delivery transition after which the open orders are cancelled")
    parser.add_argument("--progress", type=float, default=5.0, help="wall s between progress lines")
    parser.add_argument("--out", type=Path, help="report folder (default artifacts/scenario/<name>)")
    args = parser.parse_args(argv)
    if args.drones < 1 or args.lockers < 1 or args.orders < 0 or args.speed <= 0 or args.rate <= 0 \
            or args.pickup_tries < 1 or args.customer_timeout <= 0:
        parser.error("need drones >= 1, lockers >= 1, orders >= 0, speed > 0, rate > 0, pickup-tries >= 1, "
                     "customer-timeout > 0")
    args.name = args.name or f"d{args.drones}-l{args.lockers}-o{args.orders}-s{args.seed}"
    if not re.fullmatch(r"[\w.-]+", args.name):
        parser.error(f"--name {args.name!r}: letters, digits, '_', '-', '.' only")
    try:
        args.faults = [parse_fault(text) for text in args.fault]
    except PlanError as exc:
        parser.error(str(exc))
    return args


def prepare_world(args: argparse.Namespace, out: Path) -> tuple[Path, list[str], list[str]]:
    if args.world:
        world_path = args.world.resolve()
    else:
        world_path = write_world(generate_world(args.drones, args.lockers, args.seed), out / "world.yaml")
    world = load_world(world_path)
    drones, lockers = list(world.drones)[:args.drones], list(world.lockers)[:args.lockers]
    if len(drones) < args.drones or len(lockers) < args.lockers:
        raise PlanError(f"{world_path} has {len(world.drones)} drones and {len(world.lockers)} lockers, "
                        f"asked for {args.drones} and {args.lockers}")
    expected = [f"drone_{i + 1}" for i in range(args.drones)]
    if drones != expected:
        raise PlanError(f"the launch files run {', '.join(expected)}; {world_path} has {', '.join(drones)}")
    return world_path, drones, lockers


def write_report(out: Path, args: argparse.Namespace, drones: list[str], lockers: list[str], data) -> tuple:
    from skypost_sim.report_plots import write_plots

    records = build_records(data.submitted, data.events)
    run = RunInfo(args.name, tuple(drones), tuple(lockers), args.orders, args.rate, args.speed,
                  data.end_sim - data.start_sim, data.end_wall - data.start_wall, args.seed, tuple(data.faults),
                  tuple(data.notes))
    head = headline(records, data.samples, run)
    plots = write_plots(out, records, data.events, data.samples, drones, head, data.start_sim)
    (out / "report.md").write_text(render_markdown(head, run, plots))
    history = {"run": asdict(run), "start_sim": data.start_sim, "submitted": data.submitted,
               "events": [asdict(e) for e in data.events], "samples": [asdict(s) for s in data.samples]}
    (out / "history.json").write_text(json.dumps(history, allow_nan=True))
    return head, run


def print_headline(head, run, out: Path) -> None:
    def s(value: float) -> str:
        return "n/a" if math.isnan(value) else f"{value:.1f}s"

    def reasons(counts: dict[str, int]) -> str:
        return f" ({', '.join(f'{k} x{n}' for k, n in counts.items())})" if counts else ""

    print(f"\nScenario {run.name}: {head.submitted} orders, {head.delivered} into a locker, {head.completed} "
          f"completed, {head.failed} failed{reasons(head.failed_by_reason)}, {head.cancelled} cancelled"
          f"{reasons(head.cancelled_by_reason)}, {head.not_terminal} not terminal")
    print(f"  delivery time p50 {s(head.delivery_time_p50)} p95 {s(head.delivery_time_p95)}; dispatch latency "
          f"(-> ASSIGNED) p50 {s(head.dispatch_assigned_p50)} p95 {s(head.dispatch_assigned_p95)}, (-> IN_FLIGHT) "
          f"p50 {s(head.dispatch_in_flight_p50)} p95 {s(head.dispatch_in_flight_p95)}")
    print(f"  {head.deliveries_per_drone_hour:.1f} deliveries per drone-hour, mean utilisation "
          f"{head.mean_utilisation:.0%}, real-time factor {head.real_time_factor:.2f}x "
          f"({run.sim_seconds:.0f} sim s in {run.wall_seconds:.0f} wall s)")
    print(f"  report: {out / 'report.md'}")


def run(args: argparse.Namespace) -> int:
    out = (args.out or ARTIFACTS / args.name).resolve()
    if out.exists():
        shutil.rmtree(out)  # a fresh run: an old fleet database or bag would mix into this one
    out.mkdir(parents=True)
    world_path, drones, lockers = prepare_world(args, out)
    check_fault_targets(args.faults, drones, lockers)
    orders = plan_orders(args.orders, args.rate, lockers, random.Random(args.seed), prefix=args.name,
                         choose_locker=not args.fleet_picks_locker)
    site = Site(out, {"sim": True, "world": world_path, "drones": args.drones, "lockers": args.lockers,
                      "speed": args.speed, "fleet_db": out / "fleet.sqlite", "bridge": False,
                      "fleet_metrics_port": 0}, preferred_port=0)
    print(f"SkyPost scenario {args.name}: {args.drones} drones, {args.lockers} lockers, {args.orders} orders at "
          f"{args.rate:g}/min, speed {args.speed:g}x; ROS master {site.master_uri}; output {out}", flush=True)
    runner = None
    try:
        site.export_env()
        wait_until(site.master_up, 60, "the ROS master", site)
        import rospy

        from skypost_sim.scenario_runner import RunnerConfig, ScenarioRunner

        rospy.init_node("skypost_scenario", disable_signals=True)
        config = RunnerConfig(tuple(drones), tuple(lockers), seed=args.seed, pickup_mean=args.pickup_mean,
                              pickup_tries=args.pickup_tries, customer_timeout=args.customer_timeout,
                              timeout=args.timeout, stall=args.stall, progress_period=args.progress,
                              record_topics=tuple(mission_topics(drones, lockers)),
                              record_path=out / "mission.bag" if args.record else None)
        runner = ScenarioRunner(config, orders, args.faults, log=lambda line: print(line, flush=True))
        started = time.monotonic()
        runner.wait_site_ready(args.startup_timeout, site.alive)
        print(f"site up in {time.monotonic() - started:.0f}s (wall)", flush=True)
        runner.start_recording(site.env)
        data = runner.run(site.alive)
        runner.stop_recording()
        head, run_info = write_report(out, args, drones, lockers, data)
        print_headline(head, run_info, out)
        return 0 if head.not_terminal == 0 and head.submitted == args.orders else 1
    except (SiteError, TimeoutError, RuntimeError, PlanError) as exc:
        print(f"FAILED: {exc}", flush=True)
        return 1
    finally:
        if runner is not None:
            runner.stop_recording()
        print("stopping the site...", flush=True)
        site.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        return run(args)
    except PlanError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
