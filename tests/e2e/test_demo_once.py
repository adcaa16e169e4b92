"""`make demo ONCE=1` as a newcomer runs it: scripts/demo.py --once starts the whole simulated site (skypost.launch with
clover_sim, drone nodes, locker nodes on the real firmware in simavr, the fleet manager, the bridge with auth) and
the web app with its worker, orders through the REST API as the demo customer, decodes the pickup QR code from the
API's PNG, shows it at the locker and exits 0 once the parcel is picked up. Nothing it started may outlive it."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from harness import ARTIFACTS, ROOT, port_open, run_script

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(420)]
WALL_LIMIT = 300.0  # s; about 30 s on an idle 2-core machine, most of it starting the site
OUT = ARTIFACTS / "demo-e2e"


def _processes_using(directory: Path) -> list[str]:
    """Processes whose ROS_HOME or SKYPOST_DATABASE_URL points into `directory` (what the demo started)."""
    found = []
    marker = str(directory.resolve()).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if any(var.startswith((b"ROS_HOME=", b"SKYPOST_DATABASE_URL=")) and marker in var
               for var in environ.split(b"\0")):
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture(scope="module")
def demo() -> tuple[int, str]:
    # ports 0: any free ones, so that a demo someone runs on this machine meanwhile cannot clash with the test
    cmd = [sys.executable, str(ROOT / "scripts" / "demo.py"), "--once", "--record", "--artifacts", str(OUT),
           "--web-port", "0", "--bridge-port", "0", "--ros-port", "0"]
    return run_script(cmd, WALL_LIMIT, "demo.py --once")


def test_first_order_is_picked_up_with_the_decoded_qr(demo):
    code, output = demo
    assert code == 0, output[-4000:]
    for line in ("  web app:        http://127.0.0.1:", "  admin panel:    http://127.0.0.1:",
                 "  API docs:       http://127.0.0.1:", "  bridge:         ws://127.0.0.1:",
                 "  accounts:       admin, operator, customer - password skypost-demo",
                 "logged in as customer through POST /api/v1/auth/login"):
        assert line in output, line
    decoded = re.search(r"QR code fetched \(\d+ bytes PNG\) and decoded: (\w+\.\w+)", output)
    assert decoded, output[-4000:]
    states = re.findall(r"^\s+\[\s*[\d.]+s\] (\w+)", output, flags=re.MULTILINE)
    for state in ("QUEUED", "IN_FLIGHT", "AWAITING_PICKUP", "COMPLETED"):
        assert state in states, (state, states)
    assert states.index("AWAITING_PICKUP") < states.index("COMPLETED")
    # the code was shown after it was decoded, and the locker opened a cell for it
    assert output.index(decoded.group(0)) < output.index("the customer shows the QR code at")
    assert re.search(r"locker_\d screen: Cell \d+ is open", output), output[-4000:]
    assert re.search(r"^PICKED UP: order \w+ collected from locker_\d cell \d+", output, flags=re.MULTILINE)
    assert re.search(r"^stopped in \d+s$", output.rstrip().splitlines()[-1]), output[-1000:]


def test_nothing_is_left_running(demo):
    code, output = demo
    assert code == 0, output[-4000:]
    assert _processes_using(OUT) == []
    for name in ("web app", "bridge"):
        port = int(re.search(rf"  {name}:\s+\w+://127\.0\.0\.1:(\d+)", output).group(1))
        assert not port_open("127.0.0.1", port), f"the {name} still listens on {port}"


def test_the_mission_was_recorded_for_replay(demo):
    code, output = demo
    assert code == 0, output[-4000:]
    bag = OUT.resolve() / "mission.bag"
    assert f"recording the mission into {bag}" in output
    assert not bag.with_suffix(".bag.active").exists(), "the recorder was not stopped cleanly"
    info = subprocess.run(["rosbag", "info", "--yaml", str(bag)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, info.stderr
    counts = {t["topic"]: t["messages"] for t in yaml.safe_load(info.stdout)["topics"]}
    for topic in ("/fleet/delivery_status", "/fleet/summary", "/drone_1/state", "/lockers/locker_1/state"):
        assert counts.get(topic, 0) > 0, (topic, counts)
    assert any(t.endswith("/pickups") for t in counts), counts   # the customer's pickup is in the bag
