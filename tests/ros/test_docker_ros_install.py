"""The ROS image's build, without Docker: the build stage's COPY lines and catkin_make command of
docker/ros.Dockerfile run here (paths under /opt/skypost moved to a temporary folder, the venv's python for the
image's venv), then compose.yaml's `ros` command runs from that install space alone on an isolated roscore: the
fleet manager and the bridge come up, and the bridge takes a token signed with the secret compose gives it."""
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from harness import ROOT, Processes, free_port, wait_for

pytestmark = pytest.mark.ros
DOCKERFILE = ROOT / "docker" / "ros.Dockerfile"
IMAGE_ROOT = "/opt/skypost"
SECRET = "docker-install-test-secret-0123456789abcdef"


def build_stage() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    rows, stage = [], ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "FROM":
            stage = rest.split()[-1]
        elif stage == "build":
            rows.append((keyword.upper(), " ".join(rest.split())))
    return rows


def clean_env(extra: dict[str, str] | None = None) -> list[str]:
    """`env -i` with just what a container has: no checkout on PYTHONPATH or ROS_PACKAGE_PATH."""
    keep = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/tmp", "ROS_PYTHON_VERSION": "3",
            "LANG": "C.UTF-8", **(extra or {})}
    return ["env", "-i", *(f"{k}={v}" for k, v in keep.items())]


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """The install space, built as the image's build stage builds it."""
    base = tmp_path_factory.mktemp("image")
    moved = str(base / "opt" / "skypost")
    rows = build_stage()
    for keyword, rest in rows:
        if keyword != "COPY" or "/tmp/" in rest:
            continue
        *sources, dest = rest.split()
        target = Path(dest.replace(IMAGE_ROOT, moved))
        for source in sources:
            path = ROOT / source
            to = target / path.name if dest.endswith("/") else target
            if path.is_dir():
                shutil.copytree(path, to, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                to.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, to)
    build = next(rest for keyword, rest in rows if keyword == "RUN" and "catkin_make" in rest)
    # this checkout's venv stands in for the image's: it holds docker/ros-requirements.txt and more
    build = build.replace(f"{IMAGE_ROOT}/venv/bin/python", sys.executable).replace(IMAGE_ROOT, moved)
    done = subprocess.run([*clean_env(), "bash", "-c", build], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return Path(re.search(r"-DCMAKE_INSTALL_PREFIX=(\S+)", build).group(1))


def sourced(install: Path, command: str) -> list[str]:
    return ["bash", "-c", f"source {install}/setup.bash && {command}"]


def test_install_space_holds_every_node_and_module(install):
    nodes = sorted(p.name for p in (ROOT / "nodes").iterdir() if p.is_file())
    assert sorted(p.name for p in (install / "lib" / "skypost").iterdir()) == nodes
    assert (install / "share" / "skypost" / "launch" / "skypost.launch").is_file()
    assert (install / "share" / "skypost" / "config" / "world.yaml").is_file()
    modules = ["skypost.msg", "skypost.srv", "clover.srv", "mavros_msgs.msg", "skypost_locker.rosserial.host",
               *(f"{p.name}.node" for p in (ROOT / "src").iterdir() if (p / "node.py").is_file())]
    script = "; ".join(f"import {m}" for m in modules) + "; import skypost_fleet; print(skypost_fleet.__file__)"
    done = subprocess.run([*clean_env(), *sourced(install, f"python3 -c {shlex.quote(script)}")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().startswith(str(install)), "imported from the checkout, not the install space"


def compose_ros_command() -> list[str]:
    text = (ROOT / "docker" / "compose.yaml").read_text()
    return [re.sub(r"\$\{[^}]+\}", "x", str(word)) for word in yaml.safe_load(text)["services"]["ros"]["command"]]


def test_the_compose_ros_command_runs_the_site_from_the_install_space(install, tmp_path):
    # the site's own values where this machine needs others: free ports, a temporary database, no broker (the
    # shared RabbitMQ serves other tests), the checkout's world file
    overrides = {"bridge_port": "0", "fleet_metrics_port": "0", "fleet_db": str(tmp_path / "fleet.sqlite"),
                 "amqp_url": "", "world": str(ROOT / "config" / "world.yaml")}
    def override(word: str) -> str:
        name, sep, _value = word.partition(":=")
        return f"{name}:={overrides[name]}" if sep and name in overrides else word

    words = [override(word) for word in compose_ros_command()]
    assert words[:2] == ["roslaunch", "--wait"] and "sim:=false" in words
    port = free_port()
    env = {"ROS_MASTER_URI": f"http://127.0.0.1:{port}", "ROS_IP": "127.0.0.1", "ROS_HOME": str(tmp_path / "ros"),
           "SKYPOST_BRIDGE_SECRET": SECRET}
    processes = Processes({}, ROOT / "artifacts" / "logs" / "test_docker_ros_install")
    try:
        processes.start("roscore", [*clean_env(env), *sourced(install, f"exec roscore -p {port}")])
        processes.start("site", [*clean_env(env), *sourced(install, "exec " + shlex.join(words))])
        import rosgraph

        master = rosgraph.Master("/docker_install_test", master_uri=env["ROS_MASTER_URI"])

        def bridge_port() -> int | None:
            try:
                publishers = master.getSystemState()[0]
                nodes = {n for _topic, names in publishers for n in names}
                ready = {"/fleet_manager", "/bridge"} <= nodes and "/fleet/summary" in dict(publishers)
                if ready and master.hasParam("/bridge/actual_port"):
                    return master.getParam("/bridge/actual_port")
            except OSError:
                pass
            return None

        actual = wait_for(bridge_port, 120, "the fleet manager (/fleet/summary) and the bridge from the install space")
        assert call_with_token(actual) == "ok"
    finally:
        processes.stop_all()
    log = processes.log_text("site")
    assert "no secret is set" not in log and "Traceback" not in log, log[-3000:]


def call_with_token(port: int) -> str:
    """auth with a token signed by the compose secret, then a service call the admin role may make."""
    import jwt
    from websockets.sync.client import connect

    now = int(time.time())
    token = jwt.encode({"sub": "docker-test", "role": "admin", "iat": now, "exp": now + 60}, SECRET,
                       algorithm="HS256")
    with connect(f"ws://127.0.0.1:{port}", open_timeout=10) as ws:
        ws.send(json.dumps({"op": "auth", "mac": token, "client": "docker-test", "dest": "", "rand": "r", "t": now,
                            "level": "admin", "end": now + 60}))
        ws.send(json.dumps({"op": "call_service", "service": "/rosapi/get_time", "id": "t1"}))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("op") == "service_response" and message.get("id") == "t1":
                return "ok" if message.get("result") else f"refused: {message.get('values')}"
    return "no answer"
