"""The admin panel blueprint (/admin): the shell, its assets, roslibjs from node_modules, the site layout, headers."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import WORLD, assert_envelope
from skypost_web.admin import PACKAGE_DIR, bridge_origin, content_security_policy
from skypost_web.admin.site import SiteFileError, load_site

pytestmark = pytest.mark.unit
WEB = Path(__file__).resolve().parents[1]


@pytest.fixture
def backend() -> str:
    """The panel's routes do not depend on the database engine: SQLite only."""
    return "sqlite"


def test_shell_loads_local_assets_only_with_a_strict_policy(client):
    for path in ("/admin", "/admin/"):
        response = client.get(path)
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert '<script type="module" src="/admin/static/js/main.js">' in html
        assert 'src="/admin/vendor/roslib.min.js"' in html
        assert response.headers["Cache-Control"] == "no-store"
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "script-src 'self';" in policy
        assert "connect-src 'self' ws://127.0.0.1:9090;" in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_every_referenced_static_file_exists_and_is_served_as_javascript(client):
    html = client.get("/admin/").get_data(as_text=True)
    main = client.get("/admin/static/js/main.js")
    assert main.status_code == 200 and main.mimetype == "text/javascript"
    # follow the module graph from main.js: every relative import resolves
    seen, todo = set(), ["js/main.js"]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(f"/admin/static/{path}")
        assert response.status_code == 200, path
        base = Path(path).parent
        for target in re.findall(r'from "(\.[^"]+)"', response.get_data(as_text=True)):
            todo.append(str((base / target).as_posix()).replace("js/../", "").replace("/./", "/"))
    assert len(seen) >= 15
    assert client.get("/admin/static/admin.css").status_code == 200
    assert "admin.css" in html


def test_no_asset_names_another_host():
    """Nothing the panel ships loads from elsewhere: no absolute http(s) or protocol-relative URL."""
    for path in list((PACKAGE_DIR / "static").rglob("*")) + list((PACKAGE_DIR / "templates").rglob("*")):
        if path.is_file():
            text = path.read_text()
            assert not re.search(r"https?://|url\(\s*['\"]?//|src=\"//|href=\"//", text), path


def test_roslib_comes_from_node_modules_and_nothing_else_does(client, app, tmp_path):
    response = client.get("/admin/vendor/roslib.min.js")
    if not (WEB / "node_modules" / "roslib" / "build" / "roslib.min.js").is_file():
        pytest.fail("web/node_modules/roslib is missing: run make deps")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert b"ROSLIB" in response.data
    assert_envelope(client.get("/admin/vendor/package.json"), 404)
    assert_envelope(client.get("/admin/vendor/..%2Fpackage.json"), 404)
    app.config["ADMIN_NODE_MODULES"] = str(tmp_path)  # an install without node_modules says what to do
    body = assert_envelope(client.get("/admin/vendor/roslib.min.js"), 503, "vendor_missing")
    assert "make deps" in body["error"]["message"]


def test_site_layout_is_for_staff_only(client, accounts):
    assert_envelope(client.get("/admin/api/site"), 401)
    assert_envelope(client.get("/admin/api/site", headers=accounts.headers("alice")), 403, "forbidden")
    for name in ("admin", "oper"):
        body = assert_envelope(client.get("/admin/api/site", headers=accounts.headers(name)), 200)
        site = body["data"]
        assert site["frame_id"] == "map"
        assert site["bases"][0] == {"id": "base_1", "position": [0.0, 0.0, 0.0], "marker_id": 100}
        assert [lk["id"] for lk in site["lockers"]] == ["locker_1", "locker_2"]
        assert site["lockers"][0]["cells"] == ["S", "S", "S", "M", "M", "M", "L", "L"]
        assert {"id": "drone_1", "base": "base_1"} in site["drones"]


def test_a_broken_world_file_is_a_clear_503(client, app, accounts, tmp_path):
    bad = tmp_path / "world.yaml"
    bad.write_text("bases:\n  - id: b\n    position: [1, two]\n")
    app.config["WORLD_FILE"] = str(bad)
    body = assert_envelope(client.get("/admin/api/site", headers=accounts.headers("admin")), 503, "site_unavailable")
    assert "bases[0]" in body["error"]["message"]


def test_load_site_reads_the_world_file_and_names_bad_entries(tmp_path):
    site = load_site(WORLD)
    assert len(site["drones"]) >= 3 and site["lockers"][1]["name"] == "North Campus"
    for text, where in (("lockers:\n  - name: x\n", "malformed entry"), ("- 1\n", "mapping"),
                        ("bases:\n  - id: b\n    position: [1]\n", "2 or 3 coordinates")):
        path = tmp_path / "w.yaml"
        path.write_text(text)
        with pytest.raises(SiteFileError, match=where):
            load_site(path)
    with pytest.raises(SiteFileError):
        load_site(tmp_path / "missing.yaml")


def test_panel_assets_are_not_rate_limited(tmp_path, request):
    from conftest import make_app

    app = make_app("sqlite", tmp_path, request, RATELIMIT_ENABLED=True, RATE_LIMIT_DEFAULT="3 per minute")
    client = app.test_client()
    codes = [client.get("/admin/static/js/model.js").status_code for _ in range(6)]
    assert codes == [200] * 6


def test_policy_helpers():
    assert bridge_origin("ws://127.0.0.1:9090") == "ws://127.0.0.1:9090"
    assert bridge_origin("wss://bridge.local:443/path") == "wss://bridge.local:443"
    assert bridge_origin("http://x") == ""
    assert "connect-src 'self';" in content_security_policy("")


def test_browser_modules_pass_their_node_tests():
    """The pure ES modules (model, stats, image, geometry, store, bridge link) under node's test runner."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (make deps installs it with npm)")
    result = subprocess.run([node, "--test", "tests/js/"], cwd=WEB, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"^# fail 0$", result.stdout, re.M) and re.search(r"^# pass [1-9]", result.stdout, re.M)
