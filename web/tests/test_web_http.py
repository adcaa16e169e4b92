"""The HTTP edge: envelope on 404/405/500 and bad bodies, rate limits, CORS, /health, /metrics, local docs."""
import pytest
from conftest import assert_envelope
from skypost_web.extensions import limiter

pytestmark = pytest.mark.unit


def test_unknown_route_and_wrong_method(client):
    assert_envelope(client.get("/api/v1/nothing-here"), 404, "not_found")
    response = client.delete("/api/v1/goods")
    assert_envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_an_unexpected_error_is_a_500_envelope(tmp_path, request):
    from conftest import make_app

    app = make_app("sqlite", tmp_path, request)

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaboom")

    body = assert_envelope(app.test_client().get("/boom"), 500, "internal_error")
    assert "kaboom" not in body["error"]["message"]


@pytest.mark.parametrize("body", ["", "{", "null", "\"text\"", "123"])
def test_bodies_that_are_not_objects(client, accounts, body):
    response = client.post("/api/v1/orders", data=body, content_type="application/json",
                           headers=accounts.headers("alice"))
    assert_envelope(response, 400)


@pytest.mark.parametrize("path, user", [("/api/v1/goods?limt=5", "alice"), ("/api/v1/orders?stauts=queued", "alice"),
                                        ("/api/v1/admin/users?offest=1", "admin")])
def test_a_misspelt_query_parameter_is_named_not_ignored(client, accounts, path, user):
    body = assert_envelope(client.get(path, headers=accounts.headers(user)), 400, "validation_error")
    misspelt = path.split("?")[1].split("=")[0]
    assert misspelt in body["error"]["fields"], body


def test_login_is_rate_limited(backend, tmp_path, request):
    from conftest import make_app

    app = make_app(backend, tmp_path, request, RATELIMIT_ENABLED=True, RATE_LIMIT_LOGIN="3 per minute")
    limiter.reset()
    client = app.test_client()
    codes = [client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    assert_envelope(client.post("/api/v1/auth/login", json={"username": "x", "password": "y"}), 429, "rate_limited")
    assert client.get("/health").status_code == 200  # health checks are never limited
    limiter.reset()


def test_default_limit_of_100_per_minute(tmp_path, request):
    from conftest import make_app

    app = make_app("sqlite", tmp_path, request, RATELIMIT_ENABLED=True)
    limiter.reset()
    client = app.test_client()
    codes = [client.get("/api/v1/lockers").status_code for _ in range(101)]
    assert codes[:100] == [200] * 100 and codes[100] == 429
    limiter.reset()


def test_cors_for_configured_origins_only(client):
    allowed = client.get("/api/v1/lockers", headers={"Origin": "https://app.example.org"})
    assert allowed.headers.get("Access-Control-Allow-Origin") == "https://app.example.org"
    other = client.get("/api/v1/lockers", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_health_reports_database_and_bridge(client):
    body = assert_envelope(client.get("/health"), 200)["data"]
    assert body["checks"]["database"]["ok"] is True
    assert "bridge" in body["checks"] and body["dispatch"] == "bridge"


def test_health_is_503_when_the_database_is_down():
    from conftest import base_config
    from skypost_web import create_app

    app = create_app(base_config(DATABASE_URL="postgresql+psycopg2://nobody@127.0.0.1:1/none"), environ={})
    body = assert_envelope(app.test_client().get("/health"), 503, "unhealthy")
    assert body["error"]["fields"]["checks"]["database"]["ok"] is False


def test_metrics_in_prometheus_format(client, accounts):
    client.get("/api/v1/lockers")
    text = client.get("/metrics").get_data(as_text=True)
    assert "skypost_web_requests_total" in text and 'endpoint="/api/v1/lockers"' in text
    assert "skypost_web_orders" in text and "skypost_web_outbox" in text


def test_docs_are_served_without_a_cdn(client):
    import re

    page = client.get("/api/v1/docs").get_data(as_text=True)
    links = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert links and all(link.startswith("/api/v1/docs/assets/") for link in links), links
    assert client.get("/api/v1/docs/assets/swagger-ui-bundle.js").status_code == 200
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/api/v1/orders" in spec["paths"]
