"""Fixtures for the web app's tests: an app per test on SQLite and on PostgreSQL, a fake ROS link and fleet.

PostgreSQL (127.0.0.1:5432, db `test`): each pytest session works in its own schema, created by the Alembic
migrations and dropped at the end; tables are emptied between tests. Unreachable PostgreSQL skips those cases
locally and FAILS them when CI=true.
"""
from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from skypost_web import create_app
from skypost_web.extensions import db
from skypost_web.models import User
from skypost_web.ros.fake import FakeFleet, FakeRosLink
from skypost_web.security import hash_password
from skypost_web.services.seed import seed_lockers
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[2]
WORLD = ROOT / "config" / "world.yaml"
PG_HOST, PG_PORT = "127.0.0.1", 5432
PG_URL = os.environ.get("SKYPOST_TEST_PG_URL", f"postgresql+psycopg2://postgres@{PG_HOST}:{PG_PORT}/test")
PASSWORD = "correct-horse-battery"


def require_service(name: str, host: str, port: int) -> None:
    """tests/harness.py's rule, here because web/tests also runs on its own: skip locally, fail in CI."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return
    except OSError:
        pass
    text_ = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{text_} (CI=true: tests that need it must run)")
    pytest.skip(text_)


def base_config(**extra) -> dict:
    return {"ROS_LINK": FakeRosLink(), "JWT_SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs256",
            "BRIDGE_SECRET": "test-bridge-secret-at-least-32-bytes-long", "BCRYPT_ROUNDS": 4,
            "RATELIMIT_ENABLED": False,
            "WORLD_FILE": str(WORLD), "DISPATCH_BACKOFF_BASE": 0.0, "DISPATCH_TRANSPORT": "bridge",
            "CORS_ORIGINS": "https://app.example.org", **extra}


def _pg_url() -> str:
    url = PG_URL
    try:
        engine = create_engine(url)
        with engine.connect():
            pass
    except Exception:
        url = f"postgresql+psycopg2://{PG_HOST}:{PG_PORT}/test"  # trust auth as the current user
    return url


@pytest.fixture(scope="session")
def pg_database() -> Iterator[dict]:
    """A fresh schema for this session, built by the migrations."""
    require_service("PostgreSQL", PG_HOST, PG_PORT)
    url = _pg_url()
    schema = f"skypost_test_{os.getpid()}_{secrets.token_hex(3)}"
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    app = create_app(base_config(DATABASE_URL=url, DATABASE_SCHEMA=schema), environ={})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        tables = [t.name for t in db.metadata.sorted_tables]
        db.session.remove()
        db.engine.dispose()
    try:
        yield {"url": url, "schema": schema, "tables": tables}
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _truncate(database: dict) -> None:
    names = ", ".join(f'"{database["schema"]}"."{t}"' for t in database["tables"])
    engine = create_engine(database["url"])
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def make_app(backend: str, tmp_path: Path, request: pytest.FixtureRequest, **extra):
    if backend == "postgresql":
        database = request.getfixturevalue("pg_database")
        _truncate(database)
        app = create_app(base_config(DATABASE_URL=database["url"], DATABASE_SCHEMA=database["schema"], **extra),
                         environ={})
    else:
        app = create_app(base_config(DATABASE_URL=f"sqlite:///{tmp_path / 'web.sqlite'}", **extra), environ={})
        with app.app_context():
            db.create_all()
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def app(backend: str, tmp_path: Path, request: pytest.FixtureRequest):
    app = make_app(backend, tmp_path, request)
    with app.app_context():
        seed_lockers(str(WORLD))
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def link(app) -> FakeRosLink:
    return app.config["ROS_LINK"]


@pytest.fixture
def fleet(link) -> FakeFleet:
    return FakeFleet(link)


class Accounts:
    """Users of every role and their bearer headers."""

    def __init__(self, app) -> None:
        self.app = app
        self.ids: dict[str, int] = {}
        with app.app_context():
            for name, role, locker in (("alice", "customer", None), ("bob", "customer", None),
                                       ("admin", "admin", None), ("oper", "operator", None),
                                       ("locker1", "locker", "locker_1"), ("locker2", "locker", "locker_2")):
                user = User(username=name, role=role, locker_id=locker, password_hash=hash_password(PASSWORD))
                db.session.add(user)
                db.session.flush()
                self.ids[name] = user.id
            db.session.commit()

    def token(self, name: str, **kwargs) -> str:
        from flask_jwt_extended import create_access_token

        with self.app.app_context():
            return create_access_token(identity=db.session.get(User, self.ids[name]), **kwargs)

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(name)}"}


@pytest.fixture
def accounts(app) -> Accounts:
    return Accounts(app)


@pytest.fixture
def goods(app) -> dict[str, int]:
    """Goods by sku -> id: small (S, 0.2 kg), book (M, 0.35 kg), heavy (L, 0.9 kg), scarce (S, stock 1)."""
    from skypost_web.models import Good

    rows = {"tea": ("S", 0.2, 10), "book": ("M", 0.35, 10), "heavy": ("L", 0.9, 5), "scarce": ("S", 0.1, 1)}
    ids = {}
    with app.app_context():
        for sku, (size, weight, stock) in rows.items():
            good = Good(sku=sku, name=sku.title(), price_cents=100, weight_kg=weight, size=size, stock=stock)
            db.session.add(good)
            db.session.flush()
            ids[sku] = good.id
        db.session.commit()
    return ids


def assert_envelope(response, status: int, code: str | None = None) -> dict:
    """The answer has the envelope, the status, and (for errors) the code; returns the body."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    body = response.get_json()
    assert set(body) == {"success", "data", "error"}, body
    if status < 400:
        assert body["success"] is True and body["error"] is None, body
    else:
        assert body["success"] is False and body["data"] is None, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        if code is not None:
            assert body["error"]["code"] == code, body
    return body


def wait_for(predicate, timeout: float, message: str = "condition", interval: float = 0.05):
    """Poll `predicate` until truthy (tests/harness.py's rule: waits poll with a deadline, never sleep)."""
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}")
        pause.wait(interval)
