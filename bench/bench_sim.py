#!/usr/bin/env python3
"""How many simulated drones one core sustains at 10x real time, camera off and camera on.

Headless: the simulator core runs in this one thread without ROS transport, doing for every simulated second what
clover_sim does for its drones (config/world.yaml's markers and pads, drones patrolling between the pads at 3 m):
- physics at RATE steps per sim second (all drones at once, numpy), camera sightings at CAMERA_RATE;
- per drone, the messages built and serialised as the node publishes them: mavros/local_position/pose at
  PUBLISH_RATE, mavros/state, battery and extended_state at STATUS_RATE, /clock at CLOCK_RATE sim Hz;
- per drone, TELEMETRY_RATE get_telemetry calls answered and serialised (a drone node's arrival checks), and a
  new navigate leg on each arrival;
- camera on: every drone's picture rendered, wrapped in an Image + CameraInfo and serialised at CAMERA_RATE (in the
  full stack each drone node subscribes to its camera).
N drones are sustained at 10x when one simulated second costs at most 0.1 s of this thread's CPU time. Socket
writes and rospy's per-connection threads are not included in this figure.

With ROS (when roscore is available): the real clover_sim node at 10x on its own roscore, with one load process
subscribed to every drone's MAVROS topics (and cameras) as the drone nodes are, all drones hovering over pads.
The node's CPU time (all its threads, from /proc) per simulated second at two fleet sizes gives a linear estimate
of the drones one core sustains at 10x; a third run at that size checks it. The machine is shared: the speed the
node achieved during a run is printed as well, but the CPU figure is the one that does not depend on the load.
Prints progress, then one JSON object.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from skypost_common.world import load_world  # noqa: E402
from skypost_sim import messages  # noqa: E402
from skypost_sim.camera import render  # noqa: E402
from skypost_sim.clover import CloverApi, RequestTiming  # noqa: E402
from skypost_sim.simulation import DroneSpec, ModelConfig, Pad, Simulation  # noqa: E402

SPEEDUP = 10.0
RATE, CAMERA_RATE, PUBLISH_RATE, STATUS_RATE, TELEMETRY_RATE = 50.0, 5.0, 10.0, 1.0, 5.0
CLOCK_RATE = 100.0 / SPEEDUP       # clover_sim's default: at most 100 /clock messages per wall second
SIM_SECONDS = 4.0                  # measured per drone count, after one warm-up second
ROS_WARMUP, ROS_WINDOW = 4.0, 10.0  # wall seconds per ROS run
NAN = math.nan


class Fleet:
    """N drones doing a drone node's share of work against the core, and the node's share of publishing."""

    def __init__(self, n: int, camera: bool, seed: int = 1) -> None:
        world = load_world(ROOT / "config" / "world.yaml")
        self.markers = world.marker_positions()
        pads = [Pad(locker.id, locker.position) for locker in world.lockers.values()]
        rng = np.random.default_rng(seed)
        specs = [DroneSpec(f"drone_{i}", (float(rng.uniform(-20, 20)), float(rng.uniform(-20, 20)), 0.0),
                           (0.0, 0.0, 0.0)) for i in range(n)]
        self.sim = Simulation(specs, self.markers, pads, ModelConfig(), seed=seed, self_stepping=True)
        self.apis = [CloverApi(self.sim, i, RequestTiming(0.0, 0.0)) for i in range(n)]
        self.camera = camera
        self.rng = rng
        self.waypoints = [np.array(p) + np.array([0.0, 0.0, 3.0]) for p in self.markers.values()]
        for api in self.apis:
            api.navigate(*self._waypoint(), speed=3.0, frame_id="map", auto_arm=True)
        self.buffer = io.BytesIO()

    def _waypoint(self) -> np.ndarray:
        base = self.waypoints[self.rng.integers(len(self.waypoints))]
        return base + np.array([*self.rng.uniform(-2.0, 2.0, 2), 0.0])

    def _send(self, msg) -> None:
        self.buffer.seek(0)
        msg.serialize(self.buffer)

    def run(self, sim_seconds: float) -> None:
        dt = 1.0 / RATE
        every = {name: max(1, round(RATE / rate)) for name, rate in (
            ("pose", PUBLISH_RATE), ("status", STATUS_RATE), ("camera", CAMERA_RATE),
            ("telemetry", TELEMETRY_RATE), ("clock", CLOCK_RATE))}
        n = len(self.apis)
        for step in range(1, round(sim_seconds * RATE) + 1):
            self.sim.step(dt)
            due = {name for name, k in every.items() if step % k == 0}
            if not due:
                continue
            snap = self.sim.snapshot()
            stamp = messages.stamp_of(snap.now)
            if "clock" in due:
                self._send(messages.clock(stamp))
            for i in range(n):
                if "pose" in due:
                    self._send(messages.pose(snap, i, stamp))
                if "status" in due:
                    self._send(messages.state(bool(snap.armed[i]), snap.mode[i], stamp))
                    self._send(messages.battery(self.sim.battery.reading(i, bool(snap.flying[i])), stamp))
                    self._send(messages.extended_state(messages.landed_state(snap, i), stamp))
                if "telemetry" in due:
                    t = self.apis[i].telemetry("navigate_target")
                    self._send(messages.telemetry_response(t))
                    if math.sqrt(t.x ** 2 + t.y ** 2 + t.z ** 2) < 0.3:
                        self.apis[i].navigate(*self._waypoint(), speed=3.0, frame_id="map")
            if "camera" in due:
                self.sim.update_sightings()
                if self.camera:
                    markers = self.sim.visible_marker_positions()
                    for i in range(n):
                        picture = render(self.sim.model.camera, snap.position[i], float(snap.yaw[i]), markers)
                        self._send(messages.image(picture, stamp, "main_camera_optical"))
                        self._send(messages.camera_info(self.sim.model.camera, stamp, "main_camera_optical"))


def cost_per_sim_second(n: int, camera: bool) -> float:
    fleet = Fleet(n, camera)
    fleet.run(1.0)   # warm-up: take-off, caches
    started = time.thread_time()
    fleet.run(SIM_SECONDS)
    return (time.thread_time() - started) / SIM_SECONDS


def max_drones(camera: bool) -> tuple[int, dict[int, float]]:
    """The largest N whose sim second costs <= 1/SPEEDUP s: doubling, then bisection."""
    budget = 1.0 / SPEEDUP
    costs: dict[int, float] = {}

    def sustained(n: int) -> bool:
        costs[n] = cost_per_sim_second(n, camera)
        print(f"  camera {'on ' if camera else 'off'} N={n:5d}: {costs[n] * 1e3:8.2f} ms CPU per sim second "
              f"({'sustained' if costs[n] <= budget else 'too slow'} at {SPEEDUP:g}x)", flush=True)
        return costs[n] <= budget

    good, bad = 0, 8
    while sustained(bad):
        good, bad = bad, bad * 2
    while bad - good > max(1, good // 50):   # to within 2 %
        middle = (good + bad) // 2
        if sustained(middle):
            good = middle
        else:
            bad = middle
    return good, costs


# ----- with ROS -----------------------------------------------------------------------------------------------
def write_world(directory: Path, n: int) -> Path:
    import yaml

    data = yaml.safe_load((ROOT / "config" / "world.yaml").read_text())
    data["drones"] = [{"id": f"drone_{i + 1}", "base": "base_1", "start": [2.0 * (i % 20) - 20, 2.0 * (i // 20) - 10]}
                      for i in range(n)]
    path = directory / f"world_{n}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def load_process(n: int, camera: bool) -> None:
    """`bench_sim.py --load N CAMERA`: what N drone nodes ask of clover_sim: every MAVROS topic (and the camera)
    subscribed, every drone flown to hover over a pad."""
    import rospy
    from clover.srv import Navigate
    from geometry_msgs.msg import PoseStamped
    from mavros_msgs.msg import ExtendedState, State
    from sensor_msgs.msg import BatteryState, CameraInfo, Image

    rospy.init_node("sim_bench_load")
    topics = [("mavros/state", State), ("mavros/battery", BatteryState), ("mavros/extended_state", ExtendedState),
              ("mavros/local_position/pose", PoseStamped)]
    if camera:
        topics += [("main_camera/image_raw", Image), ("main_camera/camera_info", CameraInfo)]
    for i in range(1, n + 1):
        for name, msg_type in topics:
            rospy.Subscriber(f"/drone_{i}/{name}", msg_type, lambda _m: None, queue_size=1, buff_size=2 ** 20)
    rospy.wait_for_service(f"/drone_{n}/navigate", timeout=300)
    pads = [(24.0, 8.0), (-10.0, 30.0), (0.0, 0.0)]
    for i in range(1, n + 1):
        x, y = pads[i % len(pads)]
        answer = rospy.ServiceProxy(f"/drone_{i}/navigate", Navigate)(
            x=x + (i % 5) * 0.3, y=y, z=3.0, yaw=NAN, speed=5.0, frame_id="map", auto_arm=True)
        if not answer.success:
            raise SystemExit(f"drone_{i}: {answer.message}")
    print("flying", flush=True)
    rospy.spin()


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RosBench:
    """One roscore; per run a fresh clover_sim and load process."""

    def __init__(self, directory: Path) -> None:
        from harness import Roscore

        self.directory = directory
        self.core = Roscore("bench_sim", {"/use_sim_time": True})
        self.core.start()
        self.core.export()
        import rospy
        from rosgraph_msgs.msg import Clock

        rospy.init_node("sim_bench", disable_signals=True)
        self.sim_time = 0.0
        rospy.Subscriber("/clock", Clock, self._clock, queue_size=1)

    def _clock(self, msg) -> None:
        self.sim_time = msg.clock.to_sec()

    def run(self, n: int, camera: bool) -> dict:
        from harness import wait_for

        procs = self.core.processes
        world = write_world(self.directory, n)
        sim = procs.start(f"clover_sim_{n}_{int(camera)}", [
            sys.executable, str(ROOT / "nodes" / "clover_sim"), "__name:=clover_sim", f"_world:={world}",
            f"_speed:={SPEEDUP}", f"_camera_rate:={CAMERA_RATE}"])
        load_log = f"load_{n}_{int(camera)}"
        load = procs.start(load_log, [sys.executable, __file__, "--load", str(n), str(int(camera))])
        try:
            wait_for(lambda: "flying" in procs.log_text(load_log) or load.poll() is not None, 600, "drones flying")
            if load.poll() is not None:
                raise RuntimeError(f"load process failed: {procs.log_text(load_log)[-2000:]}")
            threading.Event().wait(ROS_WARMUP)   # a benchmark's measuring window, not a synchronisation
            cpu0, sim0, wall0 = process_cpu(sim.pid), self.sim_time, time.monotonic()
            threading.Event().wait(ROS_WINDOW)
            cpu1, sim1, wall1 = process_cpu(sim.pid), self.sim_time, time.monotonic()
        finally:
            procs.stop(load)
            procs.stop(sim)
        cost = (cpu1 - cpu0) / max(sim1 - sim0, 1e-9)
        speed = (sim1 - sim0) / (wall1 - wall0)
        print(f"  ROS camera {'on ' if camera else 'off'} N={n:4d}: {cost * 1e3:8.2f} ms node CPU per sim second, "
              f"achieved {speed:.1f}x (load average {os.getloadavg()[0]:.1f})", flush=True)
        return {"n": n, "cpu_ms_per_sim_second": round(cost * 1e3, 1), "achieved_speed": round(speed, 2)}

    def estimate(self, camera: bool, small: int, large: int) -> dict:
        runs = [self.run(small, camera), self.run(large, camera)]
        (n0, c0), (n1, c1) = ((r["n"], r["cpu_ms_per_sim_second"]) for r in runs)
        per_drone = max((c1 - c0) / (n1 - n0), 1e-6)
        fixed = c0 - per_drone * n0
        estimate = max(1, int((1e3 / SPEEDUP - fixed) / per_drone))
        runs.append(self.run(estimate, camera))
        return {"drones_at_10x": estimate, "cpu_ms_per_drone_sim_second": round(per_drone, 3),
                "cpu_ms_fixed_per_sim_second": round(fixed, 1), "runs": runs}

    def close(self) -> None:
        import rospy

        rospy.signal_shutdown("benchmark done")
        self.core.stop()


def ros_figures() -> dict:
    if shutil.which("roscore") is None:
        return {"skipped": "roscore not found"}
    print("clover_sim node with ROS at 10x, every MAVROS topic subscribed (camera on: images too)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as directory:
        bench = RosBench(Path(directory))
        try:
            return {"camera_off": bench.estimate(False, 10, 40), "camera_on": bench.estimate(True, 5, 20)}
        finally:
            bench.close()


def main() -> None:
    print(f"clover_sim core, headless, one thread: physics {RATE:g} Hz, camera {CAMERA_RATE:g} Hz, "
          f"pose {PUBLISH_RATE:g} Hz, status {STATUS_RATE:g} Hz, get_telemetry {TELEMETRY_RATE:g} Hz per drone",
          flush=True)
    results = {}
    for camera in (False, True):
        n, costs = max_drones(camera)
        per_drone = costs[n] / n if n else float("nan")
        results["camera_on" if camera else "camera_off"] = {
            "drones_at_10x": n,
            "cpu_ms_per_sim_second_at_max": round(costs[n] * 1e3, 2) if n else None,
            "cpu_ms_per_drone_sim_second": round(per_drone * 1e3, 3),
        }
        print(f"camera {'on' if camera else 'off'}: {n} drones at {SPEEDUP:g}x "
              f"({per_drone * 1e3:.3f} ms CPU per drone per sim second)", flush=True)
    ros = ros_figures()
    print(json.dumps({
        "speedup": SPEEDUP, "physics_rate_hz": RATE, "camera_rate_hz": CAMERA_RATE,
        "publish_rate_hz": PUBLISH_RATE, "status_rate_hz": STATUS_RATE, "telemetry_calls_hz": TELEMETRY_RATE,
        "image": "320x240 mono8",
        "drones_at_10x_camera_off": results["camera_off"]["drones_at_10x"],
        "drones_at_10x_camera_on": results["camera_on"]["drones_at_10x"],
        **{f"{key}_{name}": value for key, figures in results.items() for name, value in figures.items()
           if name != "drones_at_10x"},
        "note": "headless: one thread's CPU time, no ROS transport; ros: the node's CPU time, all threads",
        "ros": ros,
    }))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        load_process(int(sys.argv[2]), sys.argv[3] == "1")
    else:
        main()
