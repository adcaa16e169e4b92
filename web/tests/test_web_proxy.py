"""Behind nginx (docker/compose.yaml) every request comes from 127.0.0.1: with PROXY_HOPS the rate limits count
per client (X-Forwarded-For), without it they count for everyone at once and a forged header changes nothing."""
import secrets

import pytest
from conftest import make_app

pytestmark = pytest.mark.unit


PROXY = f"127.0.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"  # the limiter's memory outlives one app


def goods(client, forwarded_for: str) -> int:
    return client.get("/api/v1/goods", headers={"X-Forwarded-For": forwarded_for},
                      environ_base={"REMOTE_ADDR": PROXY}).status_code


def two_clients() -> tuple[str, str]:
    prefix = f"198.51.{secrets.randbelow(250)}"
    return f"{prefix}.1", f"{prefix}.2"


def test_behind_a_proxy_each_client_has_its_own_limit(tmp_path, request):
    client = make_app("sqlite", tmp_path, request, RATELIMIT_ENABLED=True, RATE_LIMIT_DEFAULT="3 per minute",
                      PROXY_HOPS=1).test_client()
    first, second = two_clients()
    assert [goods(client, first) for _ in range(4)] == [200, 200, 200, 429]
    assert goods(client, second) == 200


def test_without_proxy_hops_the_header_is_not_trusted(tmp_path, request):
    client = make_app("sqlite", tmp_path, request, RATELIMIT_ENABLED=True, RATE_LIMIT_DEFAULT="3 per minute",
                      ).test_client()
    first, second = two_clients()
    assert [goods(client, first) for _ in range(3)] == [200, 200, 200]
    assert goods(client, second) == 429  # one address for both: the proxy's (or a forger's)
