#!/usr/bin/env python3
"""Run every benchmark in bench/ (bench_*.py), then print a table of headline figures and one JSON document.

Each benchmark is a script that prints its figures as one JSON object on the last line of its stdout; everything
else it prints is progress, shown here as it comes (on stderr). A benchmark that exits non-zero, prints no JSON
or runs past --timeout is reported as failed (in the table and in the JSON) and makes the exit code 1; so does a
failed correctness check among the headline figures. A performance target that is missed is shown as MISSED but is
not a failure: the figures depend on the machine and on what else runs on it.

stdout: the table, a blank line, then the JSON document {"<bench>": {...}, ..., "_run": {...}} (also written to
artifacts/bench/results.json).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MISSING = object()


@dataclass(frozen=True)
class Headline:
    """One row of the table: a figure at `path` (dotted) in a benchmark's JSON.

    `compare` is text shown beside it, with {dotted.path} placeholders filled from the same JSON; `target` with
    `target_text` is a performance target (met / MISSED); `check` marks a correctness check that must be true."""

    label: str
    path: str
    unit: str = ""
    compare: str = ""
    target: Callable[[Any], bool] | None = None
    target_text: str = ""
    check: bool = False


HEADLINES: dict[str, list[Headline]] = {
    "assignment": [
        Headline("round, 1,000 drones x 5,000 deliveries (CPU, median)", "round_cpu_ms_median", "ms",
                 target=lambda v: v < 200, target_text="< 200 ms"),
        Headline("round (wall, median)", "round_ms_median", "ms", compare="load average {load_average_1min}"),
        Headline("cost equals the optimum (second exact solver)", "cost_equals_optimum", check=True),
        Headline("greedy FCFS extra cost, one urgency class", "one_class.greedy_extra_cost_pct", "%",
                 compare="over the optimal round"),
    ],
    "dispatch": [
        Headline("submit -> IN_FLIGHT p50, one at a time", "sequential.fleet.p50_ms", "ms",
                 compare="p99 {sequential.fleet.p99_ms} ms (fleet clock, {drones} fake drones)"),
        Headline("submit -> IN_FLIGHT p50, bursts of 10", "burst.fleet.p50_ms", "ms",
                 compare="p99 {burst.fleet.p99_ms} ms"),
    ],
    "sim": [
        Headline("sim drones per core at 10x, camera off (node)", "ros.camera_off.drones_at_10x",
                 compare="headless core: {drones_at_10x_camera_off}"),
        Headline("sim drones per core at 10x, camera on (node)", "ros.camera_on.drones_at_10x",
                 compare="headless core: {drones_at_10x_camera_on}"),
    ],
    "bridge": [
        Headline("publish client -> ROS", "publish.bridge.msg_per_s", "msg/s",
                 compare="rospy {publish.rospy.msg_per_s} msg/s", target=lambda v: v >= 16000,
                 target_text=">= 16,000"),
        Headline("fan-out to 10 clients", "fanout_10.frames_per_s_total", "frames/s",
                 compare="rospy {fanout_10.rospy.msgs_per_s_total} msg/s", target=lambda v: v >= 19000,
                 target_text=">= 19,000"),
        Headline("1 kHz to 10 clients: every message", "fanout_1khz.every_client_got_every_message",
                 target=lambda v: v is True, target_text="all delivered"),
        Headline("1 kHz to 10 clients: latency p99", "fanout_1khz.latency.p99_ms", "ms",
                 target=lambda v: v < 50, target_text="< 50 ms"),
        Headline("publish -> echo round trip p99", "roundtrip.bridge.p99_ms", "ms",
                 compare="rospy {roundtrip.rospy.p99_ms} ms", target=lambda v: v <= 0.8, target_text="<= 0.8 ms"),
        Headline("service call p50", "service.bridge.latency.p50_ms", "ms",
                 compare="rospy {service.rospy.plain.latency.p50_ms} ms", target=lambda v: v <= 1.2,
                 target_text="<= 1.2 ms"),
        Headline("bridge RSS start -> end", "rss_end_mb", "MB", compare="start {rss_start_mb} MB"),
    ],
    "rest": [
        Headline("POST /api/v1/orders (201), best round", "orders.best_round.rps", "req/s",
                 compare="bare Flask {bare.best_round.rps} req/s, ratio {ratio.rps_best_rounds}; all rounds "
                         "{orders.rps} vs {bare.rps} req/s"),
        Headline("orders latency p50, best round", "orders.best_round.p50_ms", "ms",
                 compare="bare Flask {bare.best_round.p50_ms} ms; all rounds {orders.p50_ms} ms"),
        Headline("orders latency p99, best round", "orders.best_round.p99_ms", "ms",
                 compare="bare Flask {bare.best_round.p99_ms} ms; all rounds {orders.p99_ms} ms"),
        Headline("server CPU per order (gunicorn)", "orders.server_cpu_ms_per_request", "ms",
                 compare="+ PostgreSQL {orders.db_cpu_ms_per_request} ms; bare Flask "
                         "{bare.server_cpu_ms_per_request} ms ({ratio.server_cpu_orders_over_bare}x)"),
        Headline("every 201 order in the DB once, stock consistent", "verify.ok", check=True),
        Headline("no oversell under concurrency", "oversell.ok", check=True),
    ],
}


def lookup(data: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(data, dict) or key not in data:
            return MISSING
        data = data[key]
    return data


def show(value: Any) -> str:
    if value is MISSING:
        return "n/a"
    if isinstance(value, bool) or value is None:
        return {True: "yes", False: "no", None: "n/a"}[value]
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}".removesuffix(".0")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def fill(template: str, data: Any) -> str:
    return re.sub(r"\{([^{}]+)\}", lambda m: show(lookup(data, m.group(1))), template)


def headline_rows(name: str, result: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Table rows for one benchmark and the correctness checks that failed."""
    if "error" in result:
        return [[name, "FAILED", "", result["error"]]], [f"{name}: {result['error']}"]
    failed: list[str] = []
    rows = []
    headlines = HEADLINES.get(name) or [Headline(key, key) for key, value in result.items()
                                        if isinstance(value, (int, float, str)) and not key.startswith("_")]
    for h in headlines:
        value = lookup(result, h.path)
        notes = []
        if h.check:
            passed = value is True
            notes.append("check: OK" if passed else "check: FAILED")
            if not passed:
                failed.append(f"{name}: {h.label} is {show(value)}")
        if h.target is not None:
            met = value not in (MISSING, None) and h.target(value)
            notes.append(f"target {h.target_text}: {'met' if met else 'MISSED'}")
        if h.compare:
            notes.append(fill(h.compare, result))
        rows.append([name, h.label, f"{show(value)} {h.unit}".strip(), "; ".join(notes)])
    return rows, failed


def table(rows: list[list[str]]) -> str:
    header = ["bench", "figure", "value", "target / comparison"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    lines = []
    for row in [header, ["-" * w for w in widths] + ["-" * 19], *rows]:
        lines.append("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGINT first, so the benchmark's cleanup (roscore, gunicorn, its database schema) runs."""
    for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_one(script: Path, args: list[str], timeout: float) -> dict[str, Any]:
    """Run one benchmark, echo its progress to stderr as it comes, return its figures or {"error": ...}."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, str(script), *args], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            shown = lines[-1] if len(lines[-1]) <= 160 else lines[-1][:157] + "..."  # the figures come later
            print(f"  | {shown}", file=sys.stderr, flush=True)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc)
        reader.join(10)
        return {"error": f"timed out after {timeout:.0f}s", "_seconds": round(time.monotonic() - started, 1)}
    except KeyboardInterrupt:
        stop_group(proc)
        raise
    reader.join(10)
    seconds = round(time.monotonic() - started, 1)
    output = [line for line in lines if line.strip()]
    if code != 0:
        return {"error": f"exit {code}", "output": "\n".join(output[-20:]), "_seconds": seconds}
    if not output:
        return {"error": "printed nothing", "_seconds": seconds}
    try:
        figures = json.loads(output[-1])
    except json.JSONDecodeError:
        return {"error": "last line is not JSON", "output": output[-1][:500], "_seconds": seconds}
    if not isinstance(figures, dict):
        return {"error": "last line is not a JSON object", "output": output[-1][:500], "_seconds": seconds}
    figures["_seconds"] = seconds
    return figures


def accepts_quick(script: Path) -> bool:
    return '"--quick"' in script.read_text()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="benchmark names (bench_<name>.py) to run; default: all")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per benchmark")
    parser.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that take it")
    parser.add_argument("--bench-dir", type=Path, default=ROOT / "bench")
    artifacts = Path(os.environ.get("SKYPOST_ARTIFACTS", ROOT / "artifacts"))
    parser.add_argument("--output", type=Path, default=artifacts / "bench" / "results.json")
    args = parser.parse_args(argv)
    scripts = {s.stem.removeprefix("bench_"): s for s in sorted(args.bench_dir.glob("bench_*.py"))}
    unknown = sorted(set(args.only) - set(scripts))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(scripts)})")
    names = args.only or list(scripts)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for i, name in enumerate(names, 1):
        script = scripts[name]
        extra = ["--quick"] if args.quick and accepts_quick(script) else []
        print(f"== [{i}/{len(names)}] {name} {' '.join(extra)}", file=sys.stderr, flush=True)
        results[name] = run_one(script, extra, args.timeout)
        status = results[name].get("error", "ok")
        print(f"== {name}: {status} ({results[name]['_seconds']:.0f}s)", file=sys.stderr, flush=True)
    rows: list[list[str]] = []
    failed: list[str] = []
    for name, result in results.items():
        bench_rows, bench_failed = headline_rows(name, result)
        rows += bench_rows
        failed += bench_failed
    results["_run"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1), "quick": args.quick,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_1min_before": round(load_before, 2), "load_1min_after": round(os.getloadavg()[0], 2)},
        "failed": failed,
    }
    document = json.dumps(results, indent=2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(document + "\n")
    print(table(rows))
    print(f"\n{len(names)} benchmarks in {results['_run']['seconds']:.0f}s; "
          f"{'FAILED: ' + '; '.join(failed) if failed else 'no failures'}", file=sys.stderr)
    print()
    print(document, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
