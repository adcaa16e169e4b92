"""Static checks of docker/ (no Docker engine runs here): the files must at least be consistent."""
import re
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"


def compose() -> dict:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_every_built_service_names_an_existing_dockerfile():
    services = compose()["services"]
    built = {name: svc["build"] for name, svc in services.items() if "build" in svc}
    assert built, "compose.yaml builds no image"
    for name, build in built.items():
        context = (DOCKER / build["context"]).resolve()
        assert (context / build["dockerfile"]).is_file(), f"{name}: {build['dockerfile']} missing"


def test_compose_has_the_production_site_services():
    services = compose()["services"]
    for needed in ("postgres", "rabbitmq", "web", "ros", "tls", "prometheus"):
        assert needed in services, f"compose.yaml lacks {needed}"


def test_required_variables_are_documented_in_the_example_env():
    text = (DOCKER / "compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", text))
    example = {line.split("=", 1)[0] for line in (DOCKER / "site.env.example").read_text().splitlines()
               if "=" in line and not line.startswith("#")}
    assert required <= example, f"undocumented: {required - example}"


@pytest.mark.parametrize("dockerfile", sorted(DOCKER.glob("*.Dockerfile")), ids=lambda p: p.name)
def test_dockerfile_is_well_formed(dockerfile):
    rows = dockerfile_instructions(dockerfile)
    assert rows[0][0] == "FROM", "the first instruction must be FROM"
    known = {"FROM", "RUN", "COPY", "ENV", "WORKDIR", "ENTRYPOINT", "CMD", "EXPOSE", "USER", "ARG", "LABEL"}
    assert {k for k, _ in rows} <= known
    for keyword, rest in rows:
        if keyword == "COPY":
            sources = [s for s in rest.split()[:-1] if not s.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"{dockerfile.name}: COPY source {source} does not exist"
    assert any(k == "CMD" for k, _ in rows), "no CMD"


def test_prometheus_scrapes_the_web_metrics():
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    paths = {job.get("metrics_path", "/metrics") for job in config["scrape_configs"]}
    assert "/metrics" in paths
