#!/usr/bin/env python3
"""Bridge benchmark: the rosbridge server (nodes/bridge_node) beside raw rospy, in the same run.

Starts its own roscore on a free port and the bridge (auth off, port 0). ROS-side helpers (publishers, counting
subscribers, a service) are separate processes started from this file (`--role ...`) so that they do not share
a GIL with the WebSocket clients, which run here on picows. Figures:
  publish      client -> ROS throughput: one client publishes N std_msgs/String as fast as it can; a rospy
               subscriber counts them (raw: a rospy publisher to the same kind of subscriber)
  fanout_N     ROS -> N clients: a rospy publisher as fast as it can for a few seconds; frames received by all
               clients per second while it publishes, and how many were still missing after it stopped
  fanout_1khz  a 1 kHz publisher to 10 clients: every client must get every message; latency p50/p99
  roundtrip    publish -> echo: the client publishes on a topic it is subscribed to, one message in flight
               (raw: a rospy node publishing on a topic it subscribes)
  service      sequential call_service to a rospy std_srvs/SetBool server (raw: rospy ServiceProxy, plain and
               persistent)
  image        sensor_msgs/CompressedImage of 50 KB at 30 Hz to one client (raw: a rospy subscriber)
  rss          the bridge's resident memory before and after; `--soak SECONDS` runs a 1 kHz publish + 1 kHz
               fan-out to 10 clients for that long and samples RSS every 10 s (not run by default)
Prints progress, then one JSON object as the last line.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

PUBLISH_COUNT = 40_000
FANOUT_SECONDS = 5.0
LATENCY_SECONDS = 10.0
ROUNDTRIPS = 2000
SERVICE_CALLS = 2000
IMAGE_SECONDS = 10.0
IMAGE_BYTES = 50 * 1024
WARMUP_TAIL = b'"msg":{"data":"w"}}'  # how the bridge sends a warm-up String


def log(text: str) -> None:
    print(text, flush=True)


def percentiles(values: list[float]) -> dict[str, Any]:
    import numpy as np

    if not values:
        return {"n": 0}
    ms = np.array(values) * 1000.0
    return {"n": len(values), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3), "max_ms": round(float(ms.max()), 3)}


# =============================================================================================================
# ROS-side helper processes (python bench_bridge.py --role NAME ...): each prints "ready", then one JSON line.

def role_counter(args: argparse.Namespace) -> None:
    """Counts messages on a topic (warm-up ones are announced); reports rate and latency of the stamped ones."""
    import rospy
    from sensor_msgs.msg import CompressedImage

    rospy.init_node("bench_counter", anonymous=True, disable_signals=True)
    state = {"n": 0, "first": 0.0, "last": 0.0, "lat": []}
    warm = threading.Event()
    done = threading.Event()

    def on_string(msg: rospy.AnyMsg) -> None:  # raw: a String is its length (4 bytes) and text
        now = time.time()
        if msg._buff[4:5] == b"w":
            if not warm.is_set():
                warm.set()
                print("warm", flush=True)
            return
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        if args.latency:
            state["lat"].append(now - float(bytes(msg._buff[4:]).split()[0]))
        if state["n"] >= args.expect:
            done.set()

    def on_image(msg: CompressedImage) -> None:
        now = time.time()
        if state["n"] == 0:
            state["first"] = now
        state["n"] += 1
        state["last"] = now
        state["lat"].append(now - msg.header.stamp.to_sec())
        if state["n"] >= args.expect:
            done.set()

    if args.kind == "image":
        rospy.Subscriber(args.topic, CompressedImage, on_image, queue_size=None, tcp_nodelay=True)
    else:
        rospy.Subscriber(args.topic, rospy.AnyMsg, on_string, queue_size=None, tcp_nodelay=True)
    print("ready", flush=True)
    deadline = time.time() + args.timeout
    while not done.is_set() and time.time() < deadline:
        if state["n"] and time.time() - state["last"] > args.idle:
            break
        done.wait(0.1)
    elapsed = state["last"] - state["first"]
    out = {"count": state["n"], "seconds": round(elapsed, 4),
           "rate": round(state["n"] / elapsed, 1) if elapsed > 0 else 0.0}
    if args.latency or args.kind == "image":
        out["latency"] = percentiles(state["lat"])
    print(json.dumps(out), flush=True)


def role_publisher(args: argparse.Namespace) -> None:
    """Publishes strings (stamped with the wall time) or 50 KB images at a rate (0: as fast as it can)."""
    import random

    import rospy
    from sensor_msgs.msg import CompressedImage
    from std_msgs.msg import String

    rospy.init_node("bench_publisher", anonymous=True, disable_signals=True)
    kind = CompressedImage if args.kind == "image" else String
    pub = rospy.Publisher(args.topic, kind, queue_size=100_000, tcp_nodelay=True)
    print("ready", flush=True)
    deadline = time.time() + 60
    while pub.get_num_connections() < args.subscribers and time.time() < deadline:
        time.sleep(0.02)
    if args.warmup:  # give subscribers that announce the first message time to see one
        for _ in range(int(args.warmup * 50)):
            pub.publish(String("w"))
            time.sleep(0.02)
    sys.stdin.readline()  # the bench says go
    image = CompressedImage(format="jpeg", data=bytes(random.getrandbits(8) for _ in range(IMAGE_BYTES)))
    sent = 0
    started = time.time()
    period = 1.0 / args.rate if args.rate else 0.0
    end = started + args.duration
    count = args.count or 10**12
    while sent < count:
        now = time.time()
        if now >= end:
            break
        if period:
            target = started + sent * period
            if target > now:
                time.sleep(target - now)
        if kind is String:
            pub.publish(String(f"{time.time():.6f} {sent}"))
        else:
            image.header.stamp = rospy.Time.from_sec(time.time())
            pub.publish(image)
        sent += 1
    elapsed = time.time() - started
    print(json.dumps({"sent": sent, "seconds": round(elapsed, 3), "rate": round(sent / elapsed, 1)}), flush=True)
    sys.stdin.readline()  # keep the publisher (and its connections) until the bench has counted


def role_service(args: argparse.Namespace) -> None:
    import rospy
    from std_srvs.srv import SetBool, SetBoolResponse

    rospy.init_node("bench_service", anonymous=True, disable_signals=True)
    rospy.Service(args.topic, SetBool, lambda req: SetBoolResponse(success=req.data, message="ok"))
    print("ready", flush=True)
    sys.stdin.readline()


def role_raw_roundtrip(args: argparse.Namespace) -> None:
    import rospy
    from std_msgs.msg import String

    rospy.init_node("bench_raw_echo", anonymous=True, disable_signals=True)
    arrived = threading.Event()
    rospy.Subscriber("/bench/raw_echo", String, lambda m: arrived.set(), queue_size=None, tcp_nodelay=True)
    pub = rospy.Publisher("/bench/raw_echo", String, queue_size=10)
    while not arrived.is_set():
        pub.publish(String("w"))
        arrived.wait(0.05)
    samples = []
    for i in range(ROUNDTRIPS):
        arrived.clear()
        start = time.perf_counter()
        pub.publish(String(str(i)))
        if not arrived.wait(2.0):
            continue
        samples.append(time.perf_counter() - start)
    print(json.dumps({"latency": percentiles(samples)}), flush=True)


def role_raw_service(args: argparse.Namespace) -> None:
    import rospy
    from std_srvs.srv import SetBool

    rospy.init_node("bench_raw_service", anonymous=True, disable_signals=True)
    rospy.wait_for_service(args.topic, 30)
    out = {}
    for name, persistent in (("plain", False), ("persistent", True)):
        proxy = rospy.ServiceProxy(args.topic, SetBool, persistent=persistent)
        samples = []
        started = time.perf_counter()
        for _ in range(SERVICE_CALLS):
            t0 = time.perf_counter()
            proxy(True)
            samples.append(time.perf_counter() - t0)
        out[name] = {"calls_per_s": round(SERVICE_CALLS / (time.perf_counter() - started), 1),
                     "latency": percentiles(samples)}
        proxy.close()
    print(json.dumps(out), flush=True)


ROLES = {"counter": role_counter, "publisher": role_publisher, "service": role_service,
         "raw_roundtrip": role_raw_roundtrip, "raw_service": role_raw_service}


class Helper:
    """A helper process: waits for its "ready", hands out its JSON result."""

    def __init__(self, env: dict[str, str], role: str, *extra: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--role", role, *extra], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.strip())

    def wait_line(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.time() + timeout
        while text not in self.lines:
            if time.time() > deadline or (self.proc.poll() is not None and text not in self.lines):
                raise RuntimeError(f"helper did not say {text!r}: {self.lines[-5:]}")
            time.sleep(0.01)

    def tell(self, text: str = "go") -> None:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def result(self, timeout: float = 120.0) -> dict[str, Any]:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.lines:
                if line.startswith("{"):
                    return json.loads(line)
            if self.proc.poll() is not None and not any(x.startswith("{") for x in self.lines):
                break
            time.sleep(0.02)
        raise RuntimeError(f"helper gave no result: {self.lines[-5:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                self.tell("stop")
                self.tell("stop")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


# =============================================================================================================
# WebSocket clients (picows)

class Client:
    """One rosbridge client; frames go to `on_frame` (bytes). With `skip_warmup`, the publishers' warm-up messages
    (data "w") are neither counted nor handed on: late ones must not pass for measured messages."""

    def __init__(self, skip_warmup: bool = False) -> None:
        self.frames = 0
        self.on_frame = None
        self.transport = None
        self.skip_warmup = skip_warmup
        self.warm = 0

    async def connect(self, url: str) -> Client:
        import picows

        client = self

        class Listener(picows.WSListener):
            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                if frame.msg_type == picows.WSMsgType.TEXT:
                    data = frame.get_payload_as_bytes()
                    if client.skip_warmup and data.endswith(WARMUP_TAIL):
                        client.warm += 1
                        return
                    client.frames += 1
                    if client.on_frame is not None:
                        client.on_frame(data)

        self.transport, _ = await picows.ws_connect(Listener, url, max_frame_size=64 * 1024 * 1024)
        return self

    def send(self, message: dict[str, Any] | bytes) -> None:
        import picows

        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.transport.send(picows.WSMsgType.TEXT, data)

    def close(self) -> None:
        self.transport.disconnect()


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.005)


# =============================================================================================================
# scenarios

async def bench_publish(url: str, env: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"messages": PUBLISH_COUNT}
    counter = Helper(env, "counter", "--topic", "/bench/pub", "--expect", str(PUBLISH_COUNT))
    try:
        counter.wait_line("ready")
        client = await Client().connect(url)
        client.send({"op": "advertise", "topic": "/bench/pub", "type": "std_msgs/String", "queue_size": 100000})
        warm = json.dumps({"op": "publish", "topic": "/bench/pub", "msg": {"data": "w"}}).encode()
        deadline = time.time() + 30
        while "warm" not in counter.lines and time.time() < deadline:
            client.send(warm)
            await asyncio.sleep(0.05)
        frames = [json.dumps({"op": "publish", "topic": "/bench/pub", "msg": {"data": f"m {i}"}}).encode()
                  for i in range(PUBLISH_COUNT)]
        for start in range(0, PUBLISH_COUNT, 1000):  # let the loop write between batches
            for frame in frames[start:start + 1000]:
                client.send(frame)
            await asyncio.sleep(0)
        result = await asyncio.to_thread(counter.result)
        out["bridge"] = {"received": result["count"], "msg_per_s": result["rate"]}
        client.close()
    finally:
        counter.stop()
    for name, extra in (("rospy", ()), ("rospy_direct", ("--direct",))):
        topic = f"/bench/{name}_pub"
        counter = Helper(env, "counter", "--topic", topic, "--expect", str(PUBLISH_COUNT))
        publisher = Helper(env, "publisher", "--topic", topic, "--count", str(PUBLISH_COUNT), "--duration", "120",
                           *extra)
        try:
            counter.wait_line("ready")
            publisher.wait_line("ready")
            publisher.tell()
            result = await asyncio.to_thread(counter.result)
            out[name] = {"received": result["count"], "msg_per_s": result["rate"]}
        finally:
            publisher.stop()
            counter.stop()
    return out


async def fanout_clients(url: str, count: int, topic: str, latency: bool) -> tuple[list[Client], list[list]]:
    clients = [await Client(skip_warmup=True).connect(url) for _ in range(count)]
    samples: list[list[float]] = [[] for _ in clients]
    for client, lat in zip(clients, samples, strict=True):
        if latency:
            def on_frame(data: bytes, lat: list[float] = lat) -> None:
                import orjson

                stamp = orjson.loads(data)["msg"]["data"].split()[0]
                lat.append(time.time() - float(stamp))
            client.on_frame = on_frame
        client.send({"op": "subscribe", "topic": topic, "type": "std_msgs/String"})
    return clients, samples


async def bench_fanout(url: str, env: dict[str, str], count: int) -> dict[str, Any]:
    topic = f"/bench/fan{count}"
    clients, _ = await fanout_clients(url, count, topic, latency=False)
    publisher = Helper(env, "publisher", "--topic", topic, "--duration", str(FANOUT_SECONDS), "--warmup", "1",
                       "--direct")
    try:
        publisher.wait_line("ready")
        await wait_until(lambda: all(c.warm for c in clients), 60, "clients see the warm-up")
        publisher.tell()
        started = time.time()
        await asyncio.to_thread(publisher.result)
        during = sum(c.frames for c in clients)
        elapsed = time.time() - started
        pub = publisher.result()
        settle_until = time.time() + 3.0
        while time.time() < settle_until and sum(c.frames for c in clients) < pub["sent"] * count:
            await asyncio.sleep(0.05)
        total = sum(c.frames for c in clients)
        out = {"published": pub["sent"], "publisher_msg_per_s": pub["rate"],
               "frames_per_s_total": round(during / elapsed, 1),
               "delivered_fraction": round(total / (pub["sent"] * count), 4),
               "missing_after_3s": pub["sent"] * count - total}
    finally:
        publisher.stop()
        for client in clients:
            client.close()
    out["rospy"] = await asyncio.to_thread(raw_fanout, env, count)
    return out


def raw_fanout(env: dict[str, str], count: int) -> dict[str, Any]:
    topic = f"/bench/raw_fan{count}"
    counters = [Helper(env, "counter", "--topic", topic, "--expect", str(10**9), "--idle", "1.0",
                       "--timeout", "60") for _ in range(count)]
    publisher = Helper(env, "publisher", "--topic", topic, "--duration", str(FANOUT_SECONDS), "--subscribers",
                       str(count), "--direct")
    try:
        for counter in counters:
            counter.wait_line("ready")
        publisher.wait_line("ready")
        publisher.tell()
        pub = publisher.result()
        results = [counter.result() for counter in counters]
        total = sum(r["count"] for r in results)
        return {"published": pub["sent"], "publisher_msg_per_s": pub["rate"],
                "msgs_per_s_total": round(total / pub["seconds"], 1),
                "delivered_fraction": round(total / (pub["sent"] * count), 4)}
    finally:
        publisher.stop()
        for counter in counters:
            counter.stop()


async def bench_fanout_1khz(url: str, env: dict[str, str]) -> dict[str, Any]:
    topic = "/bench/fan1k"
    clients, samples = await fanout_clients(url, 10, topic, latency=False)
    publisher = Helper(env, "publisher", "--topic", topic, "--rate", "1000", "--duration", str(LATENCY_SECONDS),
                       "--warmup", "1")
    try:
        publisher.wait_line("ready")
        await wait_until(lambda: all(c.warm for c in clients), 60, "clients see the warm-up")
        for client, lat in zip(clients, samples, strict=True):
            import orjson

            def on_frame(data: bytes, lat: list[float] = lat) -> None:
                lat.append(time.time() - float(orjson.loads(data)["msg"]["data"].split()[0]))
            client.on_frame = on_frame
        publisher.tell()
        await asyncio.to_thread(publisher.result)
        pub = publisher.result()
        settle_until = time.time() + 3.0
        while time.time() < settle_until and min(c.frames for c in clients) < pub["sent"]:
            await asyncio.sleep(0.05)
        every = [c.frames for c in clients]
        all_latency = [x for lat in samples for x in lat]
        return {"published": pub["sent"], "publisher_msg_per_s": pub["rate"], "received_per_client": every,
                "every_client_got_every_message": all(n == pub["sent"] for n in every),
                "latency": percentiles(all_latency)}
    finally:
        publisher.stop()
        for client in clients:
            client.close()


async def bench_roundtrip(url: str, env: dict[str, str]) -> dict[str, Any]:
    client = await Client().connect(url)
    arrived = asyncio.Event()
    expected = [WARMUP_TAIL]  # a late warm-up echo must not end a measured round trip

    def on_frame(data: bytes) -> None:
        if data.endswith(expected[0]):
            arrived.set()
    client.on_frame = on_frame
    client.send({"op": "subscribe", "topic": "/bench/echo", "type": "std_msgs/String"})
    client.send({"op": "advertise", "topic": "/bench/echo", "type": "std_msgs/String", "queue_size": 10})
    deadline = time.time() + 30
    while not arrived.is_set() and time.time() < deadline:
        client.send({"op": "publish", "topic": "/bench/echo", "msg": {"data": "w"}})
        try:
            await asyncio.wait_for(arrived.wait(), 0.05)
        except TimeoutError:
            pass
    samples = []
    for i in range(ROUNDTRIPS):
        arrived.clear()
        expected[0] = f'"msg":{{"data":"{i}"}}}}'.encode()
        frame = json.dumps({"op": "publish", "topic": "/bench/echo", "msg": {"data": str(i)}}).encode()
        start = time.perf_counter()
        client.send(frame)
        try:
            await asyncio.wait_for(arrived.wait(), 2.0)
        except TimeoutError:
            continue
        samples.append(time.perf_counter() - start)
    client.close()
    raw = Helper(env, "raw_roundtrip")
    try:
        result = await asyncio.to_thread(raw.result)
    finally:
        raw.stop()
    return {"bridge": percentiles(samples), "rospy": result["latency"]}


async def bench_service(url: str, env: dict[str, str]) -> dict[str, Any]:
    server = Helper(env, "service", "--topic", "/bench/set")
    try:
        server.wait_line("ready")
        client = await Client().connect(url)
        pending: dict[str, asyncio.Future] = {}

        def on_frame(data: bytes) -> None:
            message = json.loads(data)
            future = pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)
        client.on_frame = on_frame
        samples = []
        failures = 0
        started = time.perf_counter()
        for i in range(SERVICE_CALLS):
            call_id = f"c{i}"
            future = asyncio.get_running_loop().create_future()
            pending[call_id] = future
            t0 = time.perf_counter()
            client.send({"op": "call_service", "id": call_id, "service": "/bench/set", "args": {"data": True}})
            reply = await asyncio.wait_for(future, 10)
            samples.append(time.perf_counter() - t0)
            failures += not reply.get("result")
        elapsed = time.perf_counter() - started
        client.close()
        raw = Helper(env, "raw_service", "--topic", "/bench/set")
        try:
            rospy_result = await asyncio.to_thread(raw.result)
        finally:
            raw.stop()
        return {"bridge": {"calls_per_s": round(SERVICE_CALLS / elapsed, 1), "failures": failures,
                           "latency": percentiles(samples[10:])}, "rospy": rospy_result}
    finally:
        server.stop()


async def bench_image(url: str, env: dict[str, str]) -> dict[str, Any]:
    import orjson

    topic = "/bench/image"
    client = await Client().connect(url)
    samples: list[float] = []

    def on_frame(data: bytes) -> None:
        stamp = orjson.loads(data)["msg"]["header"]["stamp"]
        samples.append(time.time() - (stamp["secs"] + stamp["nsecs"] * 1e-9))
    client.on_frame = on_frame
    client.send({"op": "subscribe", "topic": topic, "type": "sensor_msgs/CompressedImage"})
    counter = Helper(env, "counter", "--topic", topic, "--kind", "image", "--expect", str(10**9), "--idle", "1.5",
                     "--timeout", "60")
    publisher = Helper(env, "publisher", "--topic", topic, "--kind", "image", "--rate", "30", "--duration",
                       str(IMAGE_SECONDS), "--subscribers", "2")
    try:
        counter.wait_line("ready")
        publisher.wait_line("ready")
        await asyncio.sleep(1.0)  # both subscribers connected (the publisher waits for 2 connections)
        publisher.tell()
        pub = await asyncio.to_thread(publisher.result)
        raw = await asyncio.to_thread(counter.result)
        await wait_until(lambda: len(samples) >= pub["sent"], 5, "image frames")
    except TimeoutError:
        pass
    finally:
        publisher.stop()
        counter.stop()
        client.close()
    return {"published": pub["sent"], "frame_kb": round(len(json.dumps({"x": "A" * (IMAGE_BYTES * 4 // 3)})) / 1024),
            "bridge": {"received": len(samples), "latency": percentiles(samples)},
            "rospy": {"received": raw["count"], "latency": raw["latency"]}}


async def soak(url: str, env: dict[str, str], seconds: float, rss: Any) -> dict[str, Any]:
    clients, _ = await fanout_clients(url, 10, "/bench/soak_fan", latency=False)
    publisher = Helper(env, "publisher", "--topic", "/bench/soak_fan", "--rate", "1000", "--duration",
                       str(seconds + 5))
    sink = Helper(env, "counter", "--topic", "/bench/soak_pub", "--expect", str(10**12), "--idle", "30",
                  "--timeout", str(seconds + 60))
    writer = await Client().connect(url)
    writer.send({"op": "advertise", "topic": "/bench/soak_pub", "type": "std_msgs/String"})
    samples = []
    try:
        publisher.wait_line("ready")
        sink.wait_line("ready")
        publisher.tell()
        started = time.time()
        next_sample = started
        sent = 0
        while time.time() - started < seconds:
            frame = json.dumps({"op": "publish", "topic": "/bench/soak_pub", "msg": {"data": f"m {sent}"}})
            writer.send(frame.encode())
            sent += 1
            if time.time() >= next_sample:
                samples.append((round(time.time() - started), rss()))
                log(f"  soak t={samples[-1][0]}s rss={samples[-1][1] / 1e6:.1f} MB")
                next_sample += 10.0
            await asyncio.sleep(0.001)
        frames = sum(c.frames for c in clients)
    finally:
        publisher.stop()
        sink.stop()
        writer.close()
        for client in clients:
            client.close()
    values = [v for _, v in samples]
    half = len(values) // 2
    return {"seconds": seconds, "client_publishes": sent, "frames_to_clients": frames,
            "rss_mb": [[t, round(v / 1e6, 1)] for t, v in samples],
            "rss_first_half_max_mb": round(max(values[:half] or values) / 1e6, 1),
            "rss_second_half_max_mb": round(max(values[half:]) / 1e6, 1)}


async def run_all(url: str, env: dict[str, str], rss: Any, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"rss_start_mb": round(rss() / 1e6, 1)}
    scenarios = [("publish", lambda: bench_publish(url, env)), ("fanout_1", lambda: bench_fanout(url, env, 1)),
                 ("fanout_10", lambda: bench_fanout(url, env, 10)),
                 ("fanout_1khz", lambda: bench_fanout_1khz(url, env)), ("roundtrip", lambda: bench_roundtrip(url, env)),
                 ("service", lambda: bench_service(url, env)), ("image", lambda: bench_image(url, env))]
    for name, scenario in scenarios:
        if args.only and name not in args.only:
            continue
        log(f"-- {name}")
        results[name] = await scenario()
        log(f"   {json.dumps(results[name])}")
    results["rss_end_mb"] = round(rss() / 1e6, 1)
    if args.soak:
        log(f"-- soak {args.soak:.0f}s")
        results["soak"] = await soak(url, env, args.soak, rss)
    return results


def targets(r: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, checked against this run (None: not measured in this run)."""
    def get(*keys: str) -> Any:
        value: Any = r
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    def check(value: Any, ok: Any) -> bool | None:
        return None if value is None else bool(ok(value))

    return {
        "publish_ge_16000": check(get("publish", "bridge", "msg_per_s"), lambda v: v >= 16000),
        "fanout10_ge_19000": check(get("fanout_10", "frames_per_s_total"), lambda v: v >= 19000),
        "fanout_1khz_complete": get("fanout_1khz", "every_client_got_every_message"),
        "fanout_1khz_p99_lt_50ms": check(get("fanout_1khz", "latency", "p99_ms"), lambda v: v < 50),
        "roundtrip_p99_le_0.8ms": check(get("roundtrip", "bridge", "p99_ms"), lambda v: v <= 0.8),
        "service_p50_le_1.2ms": check(get("service", "bridge", "latency", "p50_ms"), lambda v: v <= 1.2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(ROLES))
    parser.add_argument("--topic", default="/bench/topic")
    parser.add_argument("--kind", default="string", choices=("string", "image"))
    parser.add_argument("--expect", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=0.0)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--latency", action="store_true")
    parser.add_argument("--direct", action="store_true", help="publisher without queue_size (direct writes)")
    parser.add_argument("--idle", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak (RSS sampling); 0: none")
    parser.add_argument("--only", nargs="*", help="scenarios to run (publish fanout_1 fanout_10 ...)")
    args = parser.parse_args()
    if args.role:
        ROLES[args.role](args)
        return

    import psutil
    import rosgraph
    from harness import Processes, Roscore, wait_for

    core = Roscore("bench_bridge")
    processes = Processes(core.env, core.processes.log_dir)
    try:
        core.start(timeout=120)
        import yaml

        master = rosgraph.Master("/bench_bridge", master_uri=core.uri)
        master.setParam("/bridge/roles", yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())["roles"])
        bridge = processes.start("bridge", [sys.executable, str(ROOT / "nodes" / "bridge_node"), "__name:=bridge",
                                            "_port:=0", "_auth_required:=false"])
        port = wait_for(lambda: master.getParam("/bridge/actual_port") if master.hasParam("/bridge/actual_port")
                        else None, 60, "bridge port")
        url = f"ws://127.0.0.1:{port}"
        log(f"bridge on {url} (pid {bridge.pid})")
        process = psutil.Process(bridge.pid)
        env = {**core.env, "PYTHONUNBUFFERED": "1"}
        import uvloop

        results = uvloop.run(run_all(url, env, lambda: process.memory_info().rss, args))
        results["targets"] = targets(results)
        results["machine"] = {"cpus": os.cpu_count(), "load_1min": round(os.getloadavg()[0], 2)}
    finally:
        processes.stop_all()
        core.stop()
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
