"""A small HTTP/1.1 load generator for bench_rest.py: N prepared requests, C at once, bounded in count and time.

Targets 127.0.0.1 only. Each request opens its own connection (gunicorn's sync workers close the connection after
every answer, as they do behind nginx), writes prepared bytes and reads the answer (Content-Length, else until the
server closes). It runs on uvloop when present and does no work per request beyond that, so the client costs far
less CPU than the server it measures; its CPU time is reported so a saturated client shows.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

LOOPBACK = "127.0.0.1"


@dataclass
class Outcome:
    index: int
    status: int  # HTTP status; 0: connection failed, -1: timed out
    seconds: float
    body: bytes = b""
    error: str = ""


def build_request(method: str, path: str, port: int, body: Any = None, headers: dict[str, str] | None = None) -> bytes:
    """The bytes of one HTTP/1.1 request (JSON body when `body` is not None)."""
    payload = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {path} HTTP/1.1", f"Host: {LOOPBACK}:{port}", "Connection: close",
             f"Content-Length: {len(payload)}"]
    if body is not None:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload


def parse_head(head: bytes) -> tuple[int, int | None]:
    """Status code and Content-Length (None when absent) of a response head."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return int(parts[1]), length


async def _one(port: int, index: int, raw: bytes, timeout: float) -> Outcome:
    started = time.perf_counter()

    async def exchange() -> Outcome:
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        try:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = parse_head(head)
            body = await (reader.readexactly(length) if length is not None else reader.read())
        finally:
            writer.close()
        return Outcome(index, status, time.perf_counter() - started, body)

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except TimeoutError:
        return Outcome(index, -1, time.perf_counter() - started, error=f"no answer within {timeout:g}s")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        return Outcome(index, 0, time.perf_counter() - started, error=f"{type(exc).__name__}: {exc}")


async def _load(port: int, requests: Sequence[bytes], concurrency: int, max_seconds: float,
                timeout: float) -> tuple[list[Outcome], float]:
    outcomes: list[Outcome] = []
    pending = iter(enumerate(requests))
    deadline = time.perf_counter() + max_seconds

    async def worker() -> None:
        # The deadline stops new requests; those under way finish (each within its own timeout).
        for index, raw in pending:
            if time.perf_counter() >= deadline:
                return
            outcomes.append(await _one(port, index, raw, timeout))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes, time.perf_counter() - started


def run_load(port: int, requests: Sequence[bytes], concurrency: int = 16, max_seconds: float = 60.0,
             timeout: float = 30.0) -> dict[str, Any]:
    """Send `requests` to 127.0.0.1:`port`, `concurrency` at a time, starting none after `max_seconds`.

    Returns the outcomes (in completion order), the wall time and the client's CPU time."""
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    cpu = time.process_time()
    outcomes, wall = runner(_load(port, requests, concurrency, max_seconds, timeout))
    return {"outcomes": outcomes, "wall_s": wall, "client_cpu_s": time.process_time() - cpu}


def summarize(run: dict[str, Any], expected_status: int) -> dict[str, Any]:
    """Requests/s of the answers with `expected_status`, latency p50/p99/max of all answers, status counts."""
    outcomes: list[Outcome] = run["outcomes"]
    wall = run["wall_s"]
    good = [o for o in outcomes if o.status == expected_status]
    ms = np.array([o.seconds for o in outcomes]) * 1000.0
    errors = Counter(o.error.split(":")[0] for o in outcomes if o.error)
    return {
        "requests": len(outcomes),
        "ok": len(good),
        "seconds": round(wall, 3),
        "rps": round(len(good) / wall, 1) if wall > 0 else 0.0,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "max_ms": round(float(ms.max()), 2) if len(ms) else None,
        "status": {str(k): v for k, v in sorted(Counter(o.status for o in outcomes).items())},
        "errors": dict(errors),
        "client_cpu_share": round(run["client_cpu_s"] / wall, 2) if wall > 0 else None,
    }
