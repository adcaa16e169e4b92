"""Static checks of docker/ (no Docker engine runs on our machines): the files must agree with each other and with
the code they start. compose.yaml is validated against the Compose specification (compose-spec), the Dockerfiles
by hadolint (requirements/docker.txt); the rest is cross-checked here: launch args, CLI commands, settings, ports,
the Python modules the nodes import. tests/ros/test_docker_ros_install.py builds the ROS image's install space."""
from __future__ import annotations

import ast
import fnmatch
import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
ROS_DOCKERFILE = DOCKER / "ros.Dockerfile"
WEB_DOCKERFILE = DOCKER / "web.Dockerfile"
DOCKERFILES = (ROS_DOCKERFILE, WEB_DOCKERFILE)
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")
# The production nodes (clover_sim and locker_sim_node are the simulation's)
PRODUCTION_NODES = ("bridge_node", "drone_node", "fleet_manager", "locker_node", "serial_node")
# ROS executables in compose commands and the Debian package that installs each
ROS_EXECUTABLES = {"roscore": "python3-roslaunch", "roslaunch": "python3-roslaunch", "rosnode": "python3-rosnode",
                   "rostopic": "python3-rostopic", "rosrun": "rosbash"}
# scripts/apt-packages.txt entries the ROS image leaves out, and why
NOT_IN_ROS_IMAGE = {
    "python3-rostest": "tests only", "python3-dev": "no C extension is built",
    "gcc-avr": "firmware", "avr-libc": "firmware", "binutils-avr": "firmware", "arduino-core-avr": "firmware",
    "simavr": "simulated locker boards", "libsimavr-dev": "simulated locker boards",
    "libelf-dev": "simulated locker boards", "pkg-config": "simulated locker boards", "chromium": "browser tests",
}


# --- reading the files ----------------------------------------------------------------------------------------
def example_env() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (DOCKER / "site.env.example").read_text().splitlines()
             if "=" in line and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with the example env."""
    def value(match: re.Match) -> str:
        name, op, arg = match.groups()
        if name in env:
            return env[name]
        if op in (":-", "-"):
            return arg
        raise AssertionError(f"${{{name}}} is not set in site.env.example and has no default")

    return VARIABLE.sub(value, text)


def compose() -> dict:
    return yaml.safe_load(interpolate((DOCKER / "compose.yaml").read_text(), example_env()))


def services() -> dict[str, dict]:
    return compose()["services"]


def command(service: str) -> list[str]:
    value = services()[service]["command"]
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]


def option(words: list[str], name: str) -> str:
    """The value of `--name value` or `--name=value` in a command."""
    for i, word in enumerate(words):
        if word == name:
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    raise AssertionError(f"{name} not in {words}")


def instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), " ".join(rest.split())))
    return rows


def stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Instructions per build stage (unnamed stages: their index)."""
    result: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for keyword, rest in instructions(path):
        if keyword == "FROM":
            words = rest.split()
            current = words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(result))
            result[current] = []
        result[current].append((keyword, rest))
    return result


def apt_installed(rows: list[tuple[str, str]]) -> set[str]:
    packages = set()
    for keyword, rest in rows:
        if keyword == "RUN" and "apt-get install" in rest:
            for part in rest.split("&&"):
                if "apt-get install" in part:
                    packages |= {w for w in part.split("apt-get install", 1)[1].split() if not w.startswith("-")}
    return packages


def image_files(path: Path) -> dict[str, str]:
    """Final stage: absolute path in the image -> what was copied there (repo path, or stage:path)."""
    files: dict[str, str] = {}
    workdir = "/"
    for keyword, rest in list(stages(path).values())[-1]:
        if keyword == "WORKDIR":
            workdir = rest
        if keyword == "COPY":
            words = rest.split()
            origin = next((w.split("=", 1)[1] + ":" for w in words if w.startswith("--from=")), "")
            sources = [w for w in words[:-1] if not w.startswith("--")]
            dest = words[-1] if words[-1].startswith("/") else f"{workdir.rstrip('/')}/{words[-1]}"
            for source in sources:
                target = f"{dest.rstrip('/')}/{Path(source).name}" if dest.endswith("/") else dest
                files[target] = origin + source
    return files


def launch_args(launch_file: Path) -> dict[str, str | None]:
    root = ET.parse(launch_file).getroot()
    return {arg.get("name"): arg.get("default") for arg in root.findall("arg")}


def roslaunch_args(words: list[str]) -> tuple[Path, dict[str, str]]:
    """The launch file and the name:=value args of a `roslaunch [--opts] skypost <file> args...` command."""
    positional = [w for w in words[1:] if not w.startswith("-") and ":=" not in w]
    assert positional[0] == "skypost", words
    return ROOT / "launch" / positional[1], dict(w.split(":=", 1) for w in words if ":=" in w)


def ros_site_ports() -> dict[str, int]:
    launch_file, given = roslaunch_args(command("ros"))
    defaults = launch_args(launch_file)
    value = {name: given.get(name, defaults.get(name)) for name in ("bridge_port", "fleet_metrics_port")}
    return {name: int(v) for name, v in value.items()}


def web_port() -> int:
    return int(option(command("web"), "--bind").rsplit(":", 1)[1])


# --- compose ----------------------------------------------------------------------------------------------------
def test_compose_follows_the_compose_specification():
    from compose_spec import PyOptions

    text = interpolate((DOCKER / "compose.yaml").read_text(), example_env())
    PyOptions(apply_merge=True).from_yaml(text).validate()  # raises ValueError naming the line


def test_compose_has_the_production_site_services():
    found = services()
    for needed in ("postgres", "rabbitmq", "redis", "roscore", "ros", "migrate", "web", "worker", "tls",
                   "prometheus"):
        assert needed in found, f"compose.yaml lacks {needed}"
    assert command("web")[0] == "gunicorn" and command("worker")[:2] == ["skypost-web", "worker"]
    assert command("migrate")[:2] == ["skypost-web", "init-db"]
    assert found["tls"]["image"].startswith("nginx:") and found["prometheus"]["image"].startswith("prom/prometheus:")


def test_every_variable_comes_from_the_example_env_and_every_example_is_used():
    text = (DOCKER / "compose.yaml").read_text()
    used = {m.group(1) for m in VARIABLE.finditer(text)}
    without_default = {m.group(1) for m in VARIABLE.finditer(text) if m.group(2) not in (":-", "-")}
    example = example_env()
    assert without_default <= set(example), f"not in site.env.example: {without_default - set(example)}"
    assert set(example) <= used, f"site.env.example sets what compose.yaml never reads: {set(example) - used}"


def test_images_are_built_here_or_pinned():
    for name, service in services().items():
        image = service.get("image", "")
        if "build" in service:
            context = (DOCKER / service["build"]["context"]).resolve()
            assert (context / service["build"]["dockerfile"]).is_file(), f"{name}: no {service['build']}"
        else:
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin a tag, not {image!r}"


def test_dependencies_exist_and_their_conditions_can_hold():
    found = services()
    for name, service in found.items():
        depends = service.get("depends_on", {})
        depends = {d: {"condition": "service_started"} for d in depends} if isinstance(depends, list) else depends
        for target, spec in depends.items():
            assert target in found, f"{name} depends on unknown {target}"
            if spec["condition"] == "service_healthy":
                assert "healthcheck" in found[target], f"{name} waits for {target} to be healthy: no healthcheck"
            if spec["condition"] == "service_completed_successfully":
                assert found[target].get("restart", "no") == "no", f"{target} must run once for {name}"


def test_volumes_are_declared_or_exist():
    document = compose()
    declared = set(document.get("volumes") or {})
    for name, service in document["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (DOCKER / source).exists(), f"{name}: {source} does not exist"
            elif not source.startswith("/"):
                assert source in declared, f"{name}: volume {source} is not declared"
        for mount in service.get("tmpfs", []):
            assert mount.startswith("/"), f"{name}: tmpfs {mount}"


def test_host_ports_do_not_clash():
    ports: list[tuple[str, int]] = [("roscore", 11311), ("web", web_port())]
    ports += [(f"ros {name}", port) for name, port in ros_site_ports().items()]
    ports.append(("prometheus", int(option(command("prometheus"), "--web.listen-address").rsplit(":", 1)[1])))
    ports += [("tls", int(p)) for p in re.findall(r"listen\s+(\d+)", (DOCKER / "nginx.conf").read_text())]
    for name, service in services().items():
        for published in service.get("ports", []):
            assert published.startswith("127.0.0.1:"), f"{name} publishes {published} beyond this host"
            ports.append((name, int(published.split(":")[1])))
    numbers = [port for _name, port in ports]
    assert len(numbers) == len(set(numbers)), f"two services want one port: {sorted(ports, key=lambda p: p[1])}"


# --- the ROS services -------------------------------------------------------------------------------------------
def test_roslaunch_commands_use_args_the_launch_file_declares():
    for name in ("ros",):
        launch_file, given = roslaunch_args(command(name))
        declared = launch_args(launch_file)
        assert launch_file.is_file(), launch_file
        # roslaunch silently ignores an undeclared arg: a typo would leave the default in place
        assert set(given) <= set(declared), f"{name}: {sorted(set(given) - set(declared))} not in {launch_file.name}"
        for arg, value in given.items():
            if declared[arg] in ("true", "false"):
                assert value in ("true", "false"), f"{name}: {arg}:={value}"


def test_ros_site_runs_real_hardware_with_the_site_world_and_a_kept_fleet_database():
    _launch, given = roslaunch_args(command("ros"))
    assert given["sim"] == "false"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in services()["ros"]["volumes"]}
    assert given["world"] in mounts, "the world file must be mounted"
    assert any(given["fleet_db"].startswith(target) for target, source in mounts.items() if not source.startswith("/"))
    assert given["amqp_url"].startswith("amqp://") and given["amqp_url"] == services()["web"]["environment"][
        "SKYPOST_AMQP_URL"]


def test_the_bridge_gets_the_secret_the_web_app_signs_with():
    sys.path.insert(0, str(ROOT / "src"))
    from skypost_bridge.config import SECRET_ENV

    found = services()
    assert found["ros"]["environment"][SECRET_ENV] == found["web"]["environment"]["SKYPOST_BRIDGE_SECRET"] \
        == found["worker"]["environment"]["SKYPOST_BRIDGE_SECRET"] == example_env()["SKYPOST_BRIDGE_SECRET"]


def test_ros_commands_run_executables_the_image_installs():
    runtime = apt_installed(stages(ROS_DOCKERFILE)["runtime"])
    final = list(stages(ROS_DOCKERFILE).values())[-1]
    cmd = ast.literal_eval(next(rest for keyword, rest in final if keyword == "CMD"))
    candidates = [("CMD", cmd)]
    for name, service in services().items():
        if service.get("image") == "skypost-ros":
            candidates.append((name, command(name)))
            test = service.get("healthcheck", {}).get("test", [])
            if test:
                assert test[:2] == ["CMD", "/ros-entrypoint.sh"], f"{name}: a healthcheck needs the ROS environment"
                candidates.append((f"{name} healthcheck", test[2:]))
    for where, words in candidates:
        assert ROS_EXECUTABLES.get(words[0]) in runtime, f"{where}: {words[0]} is not installed by the image"


# --- the web services -------------------------------------------------------------------------------------------
def test_web_commands_name_real_entry_points():
    from skypost_web.cli import cli

    project = tomllib.loads((ROOT / "web" / "pyproject.toml").read_text())["project"]
    for name, service in services().items():
        if service.get("image") != "skypost-web":
            continue
        words = command(name)
        if words[0] == "skypost-web":
            assert "skypost-web" in project["scripts"]
            assert words[1] in cli.commands, f"{name}: skypost-web has no command {words[1]!r}"
        else:
            assert words[0] == "gunicorn" and any(d.startswith("gunicorn") for d in project["dependencies"])
            module, _, attribute = words[-1].partition(":")
            tree = ast.parse((ROOT / "web" / Path(*module.split("."))).with_suffix(".py").read_text())
            assert attribute in {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
                                 for t in node.targets if isinstance(t, ast.Name)}
            assert option(words, "--config") in image_files(WEB_DOCKERFILE), "gunicorn's config is not in the image"


def test_web_environment_names_real_settings():
    from skypost_web.config import ENV_PREFIX, Defaults

    for name, service in services().items():
        if service.get("image") != "skypost-web":
            continue
        for key in service.get("environment", {}):
            if key.startswith(ENV_PREFIX):
                assert hasattr(Defaults, key.removeprefix(ENV_PREFIX)), f"{name}: {key} is not a SkyPost setting"


def test_app_worker_and_migrations_share_one_database_and_signing_key():
    found = services()
    for key in ("SKYPOST_DATABASE_URL", "SKYPOST_JWT_SECRET_KEY", "SKYPOST_AMQP_URL", "SKYPOST_WORLD_FILE"):
        values = {found[name]["environment"][key] for name in ("web", "worker", "migrate")}
        assert len(values) == 1, f"{key} differs: {values}"
    world = found["web"]["environment"]["SKYPOST_WORLD_FILE"]
    assert any(v.endswith(f":{world}:ro") for v in found["web"]["volumes"])


def test_prometheus_multiprocess_dir_is_a_fresh_tmpfs():
    env = dict(re.findall(r"(\w+)=(\S+)", next(rest for keyword, rest in instructions(WEB_DOCKERFILE)
                                                  if keyword == "ENV" and "PROMETHEUS" in rest)))
    assert services()["web"]["tmpfs"] == [env["PROMETHEUS_MULTIPROC_DIR"]]


def test_gunicorn_config_empties_the_metrics_dir_and_forgets_dead_workers(tmp_path, monkeypatch):
    namespace: dict = {}
    exec(compile((DOCKER / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"), namespace)
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"stale")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(directory))
    namespace["on_starting"](None)
    assert directory.is_dir() and not any(directory.iterdir())
    namespace["child_exit"](None, type("Worker", (), {"pid": 123})())
    assert namespace["worker_class"] == "sync" and namespace["accesslog"] == "-"


# --- nginx and Prometheus ---------------------------------------------------------------------------------------
def nginx_locations() -> dict[str, str]:
    text = (DOCKER / "nginx.conf").read_text()
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"location\s+([^{]+)\{([^}]*)\}", text)}


def test_nginx_proxies_the_web_app_and_the_bridge_and_hides_metrics():
    locations = nginx_locations()
    assert "X-Forwarded-For" in locations["/"] and services()["web"]["environment"]["SKYPOST_PROXY_HOPS"] == "1"
    assert f"proxy_pass http://127.0.0.1:{web_port()};" in locations["/"]
    bridge = locations["= /bridge"]
    assert f"proxy_pass http://127.0.0.1:{ros_site_ports()['bridge_port']};" in bridge
    assert "Upgrade $http_upgrade" in bridge and "proxy_http_version 1.1" in bridge
    assert "proxy_pass" not in locations["= /metrics"]
    assert services()["web"]["environment"]["SKYPOST_BRIDGE_URL"] == f"wss://{example_env()['SITE_HOSTNAME']}/bridge"
    certs = re.findall(r"ssl_certificate(?:_key)?\s+(\S+);", (DOCKER / "nginx.conf").read_text())
    mounted = {v.split(":")[1] for v in services()["tls"]["volumes"]}
    assert certs and all(str(Path(c).parent) in mounted for c in certs)


def test_prometheus_scrapes_the_web_app_and_the_fleet_manager():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    targets = {target for job in config["scrape_configs"] for group in job["static_configs"]
               for target in group["targets"] if job.get("metrics_path", "/metrics") == "/metrics"}
    assert f"127.0.0.1:{web_port()}" in targets
    assert f"127.0.0.1:{ros_site_ports()['fleet_metrics_port']}" in targets


# --- Dockerfiles ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    hadolint = Path(sys.executable).parent / "hadolint"
    done = subprocess.run([str(hadolint), "--no-color", str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_copies_what_exists_and_its_ignore_file_keeps(dockerfile):
    ignore = [line.strip() for line in Path(f"{dockerfile}.dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for needed in (".git", ".venv", "catkin_ws", "web/node_modules", "artifacts"):
        assert needed in ignore, f"{dockerfile.name}.dockerignore should leave out {needed}"
    for keyword, rest in instructions(dockerfile):
        if keyword != "COPY" or "--from=" in rest:
            continue
        for source in rest.split()[:-1]:
            assert (ROOT / source).exists(), f"{dockerfile.name}: COPY source {source} does not exist"
            assert not any(fnmatch.fnmatch(source.rstrip("/"), pattern) for pattern in ignore), \
                f"{dockerfile.name}: {source} is copied but ignored"
    assert any(keyword == "CMD" for keyword, _ in instructions(dockerfile))


def test_ros_image_is_the_debian_release_ci_tests_on():
    base = instructions(ROS_DOCKERFILE)[0][1].split()[0]
    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    assert base.startswith(f"debian:{release['VERSION_CODENAME']}"), (base, release.get("PRETTY_NAME"))


def test_ros_image_has_the_ros_packages_ci_tests_with():
    listed = {line.strip() for line in (ROOT / "scripts" / "apt-packages.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    in_image = set().union(*(apt_installed(rows) for rows in stages(ROS_DOCKERFILE).values()))
    missing = listed - in_image - set(NOT_IN_ROS_IMAGE)
    assert not missing, f"in scripts/apt-packages.txt, not in the ROS image (add it, or to NOT_IN_ROS_IMAGE): {missing}"


def test_ros_image_entrypoint_sources_the_install_space():
    run = " ".join(rest for keyword, rest in instructions(ROS_DOCKERFILE) if keyword == "RUN" and "catkin_make" in rest)
    prefix = re.search(r"-DCMAKE_INSTALL_PREFIX=(\S+)", run).group(1)
    assert image_files(ROS_DOCKERFILE)[prefix] == "build:" + prefix
    script = DOCKER / "ros-entrypoint.sh"
    assert os.access(script, os.X_OK), "ros-entrypoint.sh must be executable"
    assert f"source {prefix}/setup.bash" in script.read_text()
    assert image_files(ROS_DOCKERFILE)["/ros-entrypoint.sh"] == "docker/ros-entrypoint.sh"


def module_file(name: str) -> Path | None:
    base = ROOT / "src" / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(start: list[Path]) -> set[str]:
    """Top-level names of every module outside src/ that the start files can import (at any depth, lazy ones too)."""
    own = {p.name for p in (ROOT / "src").iterdir() if (p / "__init__.py").is_file()}
    seen: set[Path] = set()
    queue = list(start)
    external: set[str] = set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        package: list[str] = []
        if (ROOT / "src") in path.parents:
            package = list(path.relative_to(ROOT / "src").parent.parts)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                parts = package[: len(package) - node.level + 1] if node.level else []
                base = ".".join([*parts, node.module] if node.module else parts)
                names = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in own:
                    prefixes = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 2)]
                    queue += [f for f in map(module_file, prefixes) if f is not None]
                elif top:
                    external.add(top)
    return external - {"__future__"}


def test_ros_image_provides_every_module_the_production_nodes_import():
    external = imported_modules([ROOT / "nodes" / n for n in PRODUCTION_NODES])
    runtime = apt_installed(stages(ROS_DOCKERFILE)["runtime"])
    built = {"skypost"} | {Path(s).name for s in re.findall(r"COPY interfaces/(\S+)", ROS_DOCKERFILE.read_text())}
    requirements = {re.split(r"[<>=!~\[ ]", line.strip())[0].lower().replace("_", "-")
                    for line in (DOCKER / "ros-requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")}
    distributions = importlib.metadata.packages_distributions()
    unprovided = []
    for module in sorted(external):
        if module in sys.stdlib_module_names or module in built:
            continue
        if f"python3-{module.replace('_', '-')}" in runtime:
            continue
        dists = {d.lower().replace("_", "-") for d in distributions.get(module, [])}
        if not dists & requirements:
            unprovided.append(module)
    assert not unprovided, f"the ROS image installs nothing that provides {unprovided}"
    assert {"rospy", "numpy", "picows", "cv2"} <= external  # the walk does reach the nodes' packages


def test_web_package_data_carries_every_file_of_the_package():
    package = ROOT / "web" / "skypost_web"
    patterns = tomllib.loads((ROOT / "web" / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "skypost_web"]
    for path in package.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            relative = path.relative_to(package).as_posix()
            assert any(fnmatch.fnmatch(relative, p.replace("**/", "*")) for p in patterns), \
                f"{relative} is left out of an installed skypost_web"
