#!/usr/bin/env python3
"""Run every benchmark in bench/ (bench_*.py), print one JSON document and a table.

Each benchmark is a script that prints its figures as one JSON object on the last line of its stdout;
its other output goes to the terminal as progress.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_one(script: Path, timeout: float) -> dict:
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    sys.stderr.write(proc.stderr[-4000:])
    lines = [line for line in proc.stdout.strip().splitlines() if line.strip()]
    if proc.returncode != 0 or not lines:
        return {"error": f"exit {proc.returncode}", "output": "\n".join(lines[-20:])}
    for line in lines[:-1]:
        print(f"  {line}", file=sys.stderr)
    try:
        figures = json.loads(lines[-1])
    except json.JSONDecodeError:
        return {"error": "last line is not JSON", "output": lines[-1][:500]}
    figures["_seconds"] = round(time.monotonic() - started, 1)
    return figures


def flatten(prefix: str, value: object, rows: list[tuple[str, str]]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            flatten(f"{prefix}.{key}" if prefix else str(key), sub, rows)
    else:
        rows.append((prefix, json.dumps(value) if not isinstance(value, str) else value))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("only", nargs="*", help="benchmark names (bench_<name>.py) to run; default: all")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    args = parser.parse_args()
    scripts = sorted((ROOT / "bench").glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in args.only]
    results = {}
    for script in scripts:
        name = script.stem.removeprefix("bench_")
        print(f"== {name}", file=sys.stderr, flush=True)
        results[name] = run_one(script, args.timeout)
    rows: list[tuple[str, str]] = []
    flatten("", results, rows)
    width = max((len(k) for k, _ in rows), default=10)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(json.dumps(results, indent=2))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
