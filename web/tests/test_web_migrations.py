"""The committed Alembic migrations build exactly the schema the models describe (SQLite and PostgreSQL)."""
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import base_config
from flask_migrate import downgrade, upgrade
from skypost_web import create_app
from skypost_web.extensions import db

pytestmark = pytest.mark.unit


def schema_diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), db.metadata)


def test_sqlite_migrations_match_the_models(tmp_path):
    app = create_app(base_config(DATABASE_URL=f"sqlite:///{tmp_path / 'm.sqlite'}"), environ={})
    with app.app_context():
        upgrade()
    assert schema_diff(app) == []
    with app.app_context():
        downgrade(revision="base")
        upgrade()


def test_postgresql_migrations_match_the_models(pg_database):
    app = create_app(base_config(DATABASE_URL=pg_database["url"], DATABASE_SCHEMA=pg_database["schema"]),
                     environ={})
    try:
        assert schema_diff(app) == []
    finally:
        with app.app_context():
            db.engine.dispose()
