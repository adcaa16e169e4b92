"""The drone node runs on the drone's own computer (a Clover image: ROS Noetic on Python 3.8), so its code keeps to
Python 3.8: syntax checked here, and the runtime features newer Pythons added that it must not use."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
DRONE_SOURCES = sorted([*ROOT.glob("src/skypost_drone/*.py"), *ROOT.glob("src/skypost_common/*.py"),
                        ROOT / "nodes" / "drone_node"])
NEWER_RUNTIME = {  # what parses on 3.8 but fails when it runs there
    r"\bStrEnum\b": "enum.StrEnum (3.11)",
    r"strict\s*=\s*True": "zip(strict=) (3.10)",
    r"\bpairwise\b": "itertools.pairwise (3.10)",
    r"\.removeprefix\(|\.removesuffix\(": "str.removeprefix (3.9)",
    r"slots\s*=\s*True|kw_only\s*=": "dataclass slots/kw_only (3.10)",
    r"\bdt\.UTC\b|datetime\.UTC\b": "datetime.UTC (3.11)",
}


@pytest.mark.parametrize("path", DRONE_SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_drone_code_parses_as_python_38(path: Path):
    source = path.read_text()
    ast.parse(source, filename=str(path), feature_version=(3, 8))
    if path.suffix == ".py" and path.name != "__init__.py":
        # annotations like list[int] | None evaluate lazily only with this import
        assert "from __future__ import annotations" in source, path
    found = [what for pattern, what in NEWER_RUNTIME.items() if re.search(pattern, source)]
    assert not found, f"{path.name} uses {found}"
