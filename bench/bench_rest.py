#!/usr/bin/env python3
"""REST order creation under load: POST /api/v1/orders on gunicorn + PostgreSQL beside a bare Flask endpoint.

Both apps run under the web image's gunicorn settings (docker/gunicorn.conf.py, 4 sync workers) on this machine,
one after the other, in alternating rounds (bare, orders, bare, orders) so a change in the machine's load hits both
alike; the load generator (bench/loadgen.py) sends a bounded number of requests to 127.0.0.1 with a fixed
concurrency (the bare endpoint gets 5x as many, its rounds would be too short to measure otherwise). Requests/s and
latency depend on what else runs on the machine; the CPU time per request of the gunicorn workers (and of the
PostgreSQL backends serving them) does not, so it is reported too. The web app runs with the ROS link off
(SKYPOST_ROS_LINK=none) and no worker, so every order stays in the outbox: what is measured is the web tier alone.
Rate limiting is off (every request comes from one address). Orders come from registered customers with valid
bodies (1-3 goods, each good once, a locker or the app's choice); stock is ample, every answer must be 201.

Afterwards the database is checked: every 201 order exists exactly once, with the items that were sent, one
delivery, one pending outbox row and one pickup code; no other order exists; every good's stock dropped by exactly
the quantities of the 201 orders. Then an oversell check: 16 customers at once order more of a good than it has
in stock; exactly `stock` orders must succeed, the rest answer 409 out_of_stock, the stock ends at 0.

PostgreSQL at 127.0.0.1:5432, database `test` (trust): the bench creates its own schema and drops it at the end.
Progress goes to stderr; the figures are one JSON object on the last line of stdout.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from harness import Processes, free_port, port_open, wait_for  # noqa: E402
from loadgen import Outcome, build_request, run_load, summarize  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

PG_HOST, PG_PORT = "127.0.0.1", 5432
WORLD = ROOT / "config" / "world.yaml"
CUSTOMERS = 32
AMPLE_STOCK = 1_000_000
SCARCE_STOCK = 50
BARE_FACTOR = 5
# name, weight kg, size: any 3 of them with quantity <= 2 stay under the 1 kg payload limit
GOODS = [("BENCH-TEA", 0.05, "S"), ("BENCH-PEN", 0.02, "S"), ("BENCH-CABLE", 0.08, "S"),
         ("BENCH-BOOK", 0.12, "M"), ("BENCH-MUG", 0.1, "M"), ("BENCH-SOCKS", 0.07, "S")]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def pg_url() -> str:
    """The `test` database as the postgres role, else as the current user (both trust)."""
    for url in (f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test",
                f"postgresql+psycopg2://{PG_HOST}:{PG_PORT}/test"):
        engine = create_engine(url)
        try:
            with engine.connect():
                return url
        except Exception:
            continue
        finally:
            engine.dispose()
    raise SystemExit(f"PostgreSQL at {PG_HOST}:{PG_PORT}/test refused both the postgres role and the current user")


class Site:
    """The bench's own schema: migrated, seeded with lockers and goods, dropped by close()."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema = f"skypost_bench_{os.getpid()}_{secrets.token_hex(3)}"
        self.engine = create_engine(url, connect_args={"options": f"-csearch_path={self.schema}"})
        self.goods: dict[str, int] = {}
        self.lockers: dict[str, set[str]] = {}

    def create(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        from flask_migrate import upgrade
        from skypost_web import create_app
        from skypost_web.extensions import db
        from skypost_web.models import Good
        from skypost_web.services.seed import seed_lockers

        app = create_app({"DATABASE_URL": self.url, "DATABASE_SCHEMA": self.schema, "ROS_LINK": "none",
                          "WORLD_FILE": str(WORLD)}, environ={})
        with app.app_context():
            upgrade()
            seed_lockers(str(WORLD))
            for sku, weight, size in GOODS:
                db.session.add(Good(sku=sku, name=sku.title(), price_cents=500, weight_kg=weight, size=size,
                                    stock=AMPLE_STOCK))
            db.session.add(Good(sku="BENCH-SCARCE", name="Scarce", price_cents=900, weight_kg=0.1, size="S",
                                stock=SCARCE_STOCK))
            db.session.commit()
            db.session.remove()
            db.engine.dispose()
        with self.engine.connect() as conn:
            self.goods = dict(conn.execute(text("SELECT sku, id FROM goods")).all())
            for locker, size in conn.execute(text("SELECT locker_id, size FROM locker_cells")):
                self.lockers.setdefault(locker, set()).add(size)

    def stock(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            return dict(conn.execute(text("SELECT id, stock FROM goods")).all())

    def close(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.engine.dispose()


class CpuMeter:
    """CPU seconds used since the last reading by some processes: a gunicorn master's workers, or the PostgreSQL
    backends serving the connections of one application_name. Unlike requests/s, this does not depend on how busy
    the rest of the machine is."""

    def __init__(self, master_pid: int | None = None, engine: Any = None, app_name: str = "") -> None:
        import psutil

        self.master = psutil.Process(master_pid) if master_pid else None
        self.engine, self.app_name = engine, app_name
        self.last: dict[int, float] = {}
        self.read()

    def _processes(self) -> list[Any]:
        import psutil

        if self.master is not None:
            return self.master.children(recursive=True)
        with self.engine.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                {"name": self.app_name}).scalars().all()
        found = []
        for pid in pids:
            try:
                found.append(psutil.Process(pid))
            except psutil.NoSuchProcess:
                pass
        return found

    def read(self) -> float:
        """CPU seconds since the previous read (a process first seen counts from its start)."""
        import psutil

        used = 0.0
        for proc in self._processes():
            try:
                times = proc.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total = times.user + times.system
            used += total - self.last.get(proc.pid, 0.0)
            self.last[proc.pid] = total
        return used


def gunicorn(processes: Processes, name: str, app: str, port: int, workers: int, env: dict[str, str]) -> int:
    """Both apps under the web image's gunicorn settings (docker/gunicorn.conf.py: sync workers, access log)."""
    cmd = [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "docker" / "gunicorn.conf.py"),
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--log-level", "warning",
           "--pythonpath", str(ROOT / "bench"), app]
    proc = processes.start(name, cmd, env=env)

    def answering() -> bool:
        # The master listens before its workers have loaded the app: wait for an HTTP answer (404 is one).
        if proc.poll() is not None:
            return True
        probe = run_load(port, [build_request("GET", "/bench-ready", port)], 1, 10, timeout=10)["outcomes"]
        return bool(probe) and probe[0].status > 0

    wait_for(answering, 300, f"gunicorn {name} answering on {port}", interval=0.5)
    if proc.poll() is not None:
        raise SystemExit(f"gunicorn {name} exited {proc.returncode}:\n{processes.log_text(name)[-3000:]}")
    return proc.pid


def register(port: int, count: int) -> list[str]:
    """`count` customers through POST /api/v1/auth/register; their access tokens."""
    tag = secrets.token_hex(3)
    bodies = [build_request("POST", "/api/v1/auth/register", port,
                            {"username": f"bench_{tag}_{i}", "password": "bench-password-1"})
              for i in range(count)]
    run = run_load(port, bodies, concurrency=4, max_seconds=300, timeout=120)
    tokens = {}
    for outcome in run["outcomes"]:
        if outcome.status != 201:
            raise SystemExit(f"register answered {outcome.status}: {outcome.body[:300]!r} {outcome.error}")
        tokens[outcome.index] = json.loads(outcome.body)["data"]["access_token"]
    return [tokens[i] for i in range(count)]


def order_bodies(site: Site, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Valid orders: 1-3 distinct ample goods, quantity 1-2, half of them naming a locker with a fitting cell."""
    ids = {sku: site.goods[sku] for sku, _w, _s in GOODS}
    sizes = {site.goods[sku]: size for sku, _w, size in GOODS}
    bodies = []
    for _ in range(count):
        chosen = rng.sample(sorted(ids.values()), rng.randint(1, 3))
        body: dict[str, Any] = {"items": [{"good_id": g, "quantity": rng.randint(1, 2)} for g in chosen]}
        needed = "M" if any(sizes[g] == "M" for g in chosen) else "S"
        fitting = sorted(locker for locker, cell_sizes in site.lockers.items() if needed in cell_sizes)
        if fitting and rng.random() < 0.5:
            body["locker_id"] = rng.choice(fitting)
        bodies.append(body)
    return bodies


def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"outcomes": [o for r in runs for o in r["outcomes"]], "wall_s": sum(r["wall_s"] for r in runs),
            "client_cpu_s": sum(r["client_cpu_s"] for r in runs)}


def verify(site: Site, sent: dict[int, dict[str, Any]], outcomes: list[Outcome],
           stock_before: dict[int, int]) -> dict[str, Any]:
    """Every 201 order in the database exactly once with its items; nothing else; stock dropped by exactly that."""
    created = {}  # ref -> (order id, the body that was sent)
    bad_bodies = 0
    for outcome in outcomes:
        if outcome.status != 201:
            continue
        data = json.loads(outcome.body)["data"]
        if data["ref"] in created:
            bad_bodies += 1  # two answers naming one order
        created[data["ref"]] = (data["id"], sent[outcome.index])
    with site.engine.connect() as conn:
        rows = conn.execute(text("SELECT id, ref FROM orders")).all()
        items: dict[int, dict[int, int]] = {}
        for order_id, good_id, quantity in conn.execute(text("SELECT order_id, good_id, quantity FROM order_items")):
            items.setdefault(order_id, {})[good_id] = quantity
        per_order = {name: dict(conn.execute(text(query)).all()) for name, query in (
            ("deliveries", "SELECT order_id, count(*) FROM deliveries GROUP BY order_id"),
            ("outbox_pending", "SELECT d.order_id, count(*) FROM outbox o JOIN deliveries d ON d.id = o.delivery_id"
                               " WHERE o.kind = 'submit' AND o.status = 'pending' GROUP BY d.order_id"),
            ("pickup_codes", "SELECT order_id, count(*) FROM pickup_codes GROUP BY order_id"))}
    refs = Counter(ref for _id, ref in rows)
    db_ids = {ref: order_id for order_id, ref in rows}
    missing = sorted(set(created) - set(refs))
    unexpected = sorted(set(refs) - set(created))
    duplicated = sorted(ref for ref, n in refs.items() if n > 1)
    wrong_items = [ref for ref, (order_id, body) in created.items()
                   if ref in db_ids and (db_ids[ref] != order_id or items.get(order_id) !=
                                         {i["good_id"]: i["quantity"] for i in body["items"]})]
    incomplete = {name: sum(1 for ref in created if ref in db_ids and counts.get(db_ids[ref]) != 1)
                  for name, counts in per_order.items()}
    ordered: Counter[int] = Counter()
    for _id, body in created.values():
        for item in body["items"]:
            ordered[item["good_id"]] += item["quantity"]
    stock_after = site.stock()
    stock_wrong = {g: {"before": stock_before[g], "after": stock_after[g], "ordered": ordered[g]}
                   for g in stock_before if stock_before[g] - stock_after[g] != ordered[g]}
    ok = not (missing or unexpected or duplicated or wrong_items or stock_wrong or bad_bodies
              or any(incomplete.values()))
    return {"ok": ok, "orders_201": len(created), "orders_in_db": len(rows), "missing": missing[:10],
            "unexpected": unexpected[:10], "duplicated": duplicated[:10], "wrong_items": wrong_items[:10],
            "without_exactly_one": incomplete, "stock_consistent": not stock_wrong, "stock_wrong": stock_wrong,
            "units_ordered": sum(ordered.values())}


def oversell(site: Site, port: int, tokens: list[str], requests: int, concurrency: int) -> dict[str, Any]:
    """More orders for the scarce good than its stock, all at once: exactly `stock` may succeed."""
    good = site.goods["BENCH-SCARCE"]
    bodies = [build_request("POST", "/api/v1/orders", port, {"items": [{"good_id": good, "quantity": 1}]},
                            {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}) for i in range(requests)]
    run = run_load(port, bodies, concurrency=concurrency, max_seconds=60)
    status = Counter(o.status for o in run["outcomes"])
    codes = Counter(json.loads(o.body)["error"]["code"] for o in run["outcomes"] if o.status == 409)
    left = site.stock()[good]
    ok = status[201] == SCARCE_STOCK and left == 0 and codes == Counter({"out_of_stock": requests - SCARCE_STOCK})
    return {"ok": ok, "stock": SCARCE_STOCK, "requests": requests, "created": status[201],
            "status": {str(k): v for k, v in sorted(status.items())}, "conflict_codes": dict(codes),
            "stock_left": left}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000,
                        help=f"order requests over all rounds (the bare endpoint gets {BARE_FACTOR}x)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per endpoint")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (docker/web.Dockerfile: 4)")
    parser.add_argument("--max-seconds", type=float, default=30.0, help="no new request after this, per round")
    parser.add_argument("--quick", action="store_true", help="600 order requests, 15 s per round at most")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.requests, args.max_seconds = min(args.requests, 600), min(args.max_seconds, 15.0)
    if not port_open(PG_HOST, PG_PORT):
        log(f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT}")
        return 2
    rng = random.Random(args.seed)
    site = Site(pg_url())
    log_dir = Path(os.environ.get("SKYPOST_ARTIFACTS", ROOT / "artifacts")) / "bench" / "rest"
    shutil.rmtree(log_dir, ignore_errors=True)  # gunicorn logs of this run only
    processes = Processes(os.environ, log_dir)
    started = time.monotonic()
    try:
        site.create()
        log(f"schema {site.schema}: lockers {sorted(site.lockers)}, {len(site.goods)} goods")
        app_name = site.schema  # tags the web app's PostgreSQL connections for the CPU readings
        env = {"SKYPOST_DATABASE_URL": f"{site.url}?application_name={app_name}",
               "SKYPOST_DATABASE_SCHEMA": site.schema, "SKYPOST_ROS_LINK": "none",
               "SKYPOST_RATELIMIT_ENABLED": "false", "SKYPOST_JWT_SECRET_KEY": secrets.token_hex(32),
               "SKYPOST_WORLD_FILE": str(WORLD), "SKYPOST_AMQP_URL": "",
               "SKYPOST_BCRYPT_ROUNDS": "4",  # only the setup's registrations hash passwords
               "PROMETHEUS_MULTIPROC_DIR": str(log_dir / "metrics")}  # as the web image runs it
        web_port, bare_port = free_port(), free_port()
        web_pid = gunicorn(processes, "web", "skypost_web.wsgi:app", web_port, args.workers, env)
        bare_pid = gunicorn(processes, "bare", "rest_bare:app", bare_port, args.workers, {})
        tokens = register(web_port, CUSTOMERS)
        log(f"gunicorn x{args.workers} sync workers: web on {web_port}, bare on {bare_port}; "
            f"{len(tokens)} customers registered")

        per_round = max(1, args.requests // args.rounds)
        bodies = order_bodies(site, per_round * args.rounds, rng)
        order_requests = [build_request("POST", "/api/v1/orders", web_port, body,
                                        {"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
                          for i, body in enumerate(bodies)]
        # The bare endpoint answers ~20x faster: BARE_FACTOR x the requests keep its rounds long enough to measure
        bare_requests = [build_request("POST", "/bare", bare_port, body) for body in bodies * BARE_FACTOR]
        # Warm-up: each worker's first requests pay for imports and connections. Its orders are real orders,
        # checked with the others (indices after the measured ones).
        stock_before = site.stock()
        warm_bodies = order_bodies(site, min(100, per_round), rng)
        sent = dict(enumerate(bodies + warm_bodies))
        # generous timeouts: on a busy machine a worker may still be loading the app
        run_load(bare_port, [build_request("POST", "/bare", bare_port, b) for b in warm_bodies], args.concurrency,
                 120, timeout=120)
        warm_run = run_load(web_port, [build_request("POST", "/api/v1/orders", web_port, b,
                                                     {"Authorization": f"Bearer {tokens[0]}"}) for b in warm_bodies],
                            args.concurrency, 120, timeout=120)
        for outcome in warm_run["outcomes"]:
            outcome.index += len(bodies)
        log(f"warm-up: {len(warm_bodies)} requests each")

        meters = {"bare": [CpuMeter(bare_pid)],
                  "orders": [CpuMeter(web_pid), CpuMeter(engine=site.engine, app_name=app_name)]}
        cpu = {"bare": [0.0, 0.0], "orders": [0.0, 0.0]}  # s: gunicorn workers, PostgreSQL backends
        runs: dict[str, list[dict[str, Any]]] = {"bare": [], "orders": []}
        for r in range(args.rounds):
            for name, port, requests in (("bare", bare_port, bare_requests), ("orders", web_port, order_requests)):
                size = len(requests) // args.rounds
                part = slice(r * size, (r + 1) * size)
                for meter in meters[name]:
                    meter.read()
                run = run_load(port, requests[part], args.concurrency, args.max_seconds)
                for k, meter in enumerate(meters[name]):
                    cpu[name][k] += meter.read()
                for outcome in run["outcomes"]:
                    outcome.index += part.start
                runs[name].append(run)
                figures = summarize(run, 201)
                log(f"round {r + 1}/{args.rounds} {name:6}: {figures['ok']}/{figures['requests']} x201 in "
                    f"{figures['seconds']:.1f}s = {figures['rps']:.0f}/s, p50 {figures['p50_ms']} ms, "
                    f"p99 {figures['p99_ms']} ms, client CPU {figures['client_cpu_share']:.0%}")
        bare, orders = summarize(merged(runs["bare"]), 201), summarize(merged(runs["orders"]), 201)
        for name, figures in (("bare", bare), ("orders", orders)):
            figures["rounds"] = [{key: each[key] for key in ("requests", "seconds", "rps", "p50_ms", "p99_ms")}
                                 for each in (summarize(r, 201) for r in runs[name])]
            # the round the rest of the machine disturbed least
            figures["best_round"] = max(figures["rounds"], key=lambda each: each["rps"])
            figures["server_cpu_ms_per_request"] = round(1000 * cpu[name][0] / max(1, figures["requests"]), 2)
        orders["db_cpu_ms_per_request"] = round(1000 * cpu["orders"][1] / max(1, orders["requests"]), 2)
        log(f"CPU per request: bare {bare['server_cpu_ms_per_request']} ms (gunicorn), orders "
            f"{orders['server_cpu_ms_per_request']} ms (gunicorn) + {orders['db_cpu_ms_per_request']} ms (PostgreSQL)")
        check = verify(site, sent, merged(runs["orders"] + [warm_run])["outcomes"], stock_before)
        log(f"check: {check['orders_201']} orders answered 201 (warm-up included), {check['orders_in_db']} in the "
            f"database, stock consistent: {check['stock_consistent']}; {'OK' if check['ok'] else 'FAILED'}")
        scarce = oversell(site, web_port, tokens, SCARCE_STOCK * 2, args.concurrency)
        log(f"oversell: {scarce['created']} of {scarce['requests']} created for a stock of {scarce['stock']}, "
            f"{scarce['stock_left']} left; {'OK' if scarce['ok'] else 'FAILED'}")
    finally:
        processes.stop_all()
        site.close()
        log(f"schema {site.schema} dropped")
    result = {
        "orders": orders, "bare": bare,
        "ratio": {"rps_orders_over_bare": round(orders["rps"] / bare["rps"], 3) if bare["rps"] else None,
                  "rps_best_rounds": round(orders["best_round"]["rps"] / bare["best_round"]["rps"], 3)
                  if bare["best_round"]["rps"] else None,
                  "rps_by_round": [round(o["rps"] / b["rps"], 3) if b["rps"] else None
                                   for o, b in zip(orders["rounds"], bare["rounds"], strict=True)],
                  "server_cpu_orders_over_bare": round(orders["server_cpu_ms_per_request"]
                                                       / bare["server_cpu_ms_per_request"], 2)
                  if bare["server_cpu_ms_per_request"] else None,
                  "p50_orders_over_bare": round(orders["p50_ms"] / bare["p50_ms"], 2) if bare["p50_ms"] else None,
                  "p99_orders_over_bare": round(orders["p99_ms"] / bare["p99_ms"], 2) if bare["p99_ms"] else None},
        "verify": check, "oversell": scarce,
        "config": {"gunicorn": "docker/gunicorn.conf.py", "gunicorn_workers": args.workers,
                   "concurrency": args.concurrency, "max_seconds_per_round": args.max_seconds,
                   "order_requests": per_round * args.rounds, "bare_requests": len(bare_requests),
                   "rounds": args.rounds, "customers": CUSTOMERS,
                   "database": "PostgreSQL 127.0.0.1 (own schema)", "ros_link": "none", "rate_limit": "off"},
        "machine": {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)},
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(result), flush=True)
    return 0 if check["ok"] and scarce["ok"] and not orders["errors"] and not bare["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
