#!/usr/bin/env python3
"""Run SkyPost's test tiers and print one closing line over all of them.

unit: one pytest process over tests/unit and web/tests (no roscore).
ros, e2e: one pytest process per module, because rospy can join only one ROS master per process and every
module gets its own isolated roscore.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NO_TESTS_COLLECTED = 5


@dataclass
class Counts:
    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def add(self, other: Counts) -> None:
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped


def read_junit(path: Path) -> Counts:
    if not path.exists():
        return Counts()
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    counts = Counts()
    for suite in suites:
        total = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts.add(Counts(total - failed - skipped, failed, skipped))
    return counts


def run_pytest(label: str, paths: list[str], extra: list[str], tmp: Path) -> tuple[Counts, bool]:
    xml = tmp / f"{label.replace('/', '_')}.xml"
    cmd = [sys.executable, "-m", "pytest", *paths, f"--junitxml={xml}", *extra]
    print(f"\n=== {label}: {' '.join(paths)}", flush=True)
    started = time.monotonic()
    code = subprocess.call(cmd, cwd=ROOT)
    counts = read_junit(xml)
    ok = code in (0, NO_TESTS_COLLECTED)
    if not ok and counts.failed == 0:
        counts.failed += 1  # a crash or collection error that produced no failing test still fails the run
    print(f"=== {label}: exit {code} in {time.monotonic() - started:.1f}s", flush=True)
    return counts, ok


def tier_jobs(tier: str) -> list[tuple[str, list[str]]]:
    if tier == "unit":
        paths = [p for p in ("tests/unit", "web/tests") if (ROOT / p).is_dir()]
        return [("unit", paths)] if paths else []
    return [(f"{tier}/{p.stem}", [str(p.relative_to(ROOT))]) for p in sorted((ROOT / "tests" / tier).glob("test_*.py"))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tier", action="append", choices=["unit", "ros", "e2e"], help="default: all tiers")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for every pytest run")
    args = parser.parse_args()
    tiers = args.tier or ["unit", "ros", "e2e"]
    total = Counts()
    all_ok = True
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="skypost-tests-") as tmp:
        for tier in tiers:
            for label, paths in tier_jobs(tier):
                counts, ok = run_pytest(label, paths, ["-q", *args.pytest_args], Path(tmp))
                total.add(counts)
                all_ok = all_ok and ok
    print(f"\nAll tiers ({', '.join(tiers)}) in {time.monotonic() - started:.0f}s")
    print(f"{total.passed} passed, {total.failed} failed, {total.skipped} skipped")
    return 0 if all_ok and total.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
