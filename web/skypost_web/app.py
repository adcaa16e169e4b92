"""The application factory."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apiflask import APIFlask
from sqlalchemy import event
from werkzeug.middleware.proxy_fix import ProxyFix

from skypost_web import metrics
from skypost_web.config import load_settings
from skypost_web.errors import register_error_handlers
from skypost_web.extensions import cors, db, jwt, limiter, migrate, ros
from skypost_web.schemas import Envelope, ErrorEnvelope

API_PREFIX = "/api/v1"
MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def _database_uri(settings: dict[str, Any], instance_path: str) -> str:
    url = settings["DATABASE_URL"]
    if not url:
        Path(instance_path).mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{Path(instance_path) / 'skypost.sqlite'}"
    return normalize_database_url(url)


def normalize_database_url(url: str) -> str:
    """postgres:// and postgresql:// without a driver mean psycopg2 (SQLAlchemy 2.1 would pick psycopg 3)."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg2://" + url[len(scheme):]
    return url


def _engine_options(uri: str, schema: str) -> dict[str, Any]:
    if uri.startswith("postgresql") and schema:
        return {"connect_args": {"options": f"-csearch_path={schema}"}, "pool_pre_ping": True}
    if uri.startswith("postgresql"):
        return {"pool_pre_ping": True}
    return {"connect_args": {"timeout": 30}}


def _configure(app: APIFlask, settings: dict[str, Any]) -> None:
    app.config.update(settings)
    uri = _database_uri(settings, app.instance_path)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=uri,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(uri, settings["DATABASE_SCHEMA"]),
        JWT_ACCESS_TOKEN_EXPIRES=dt.timedelta(minutes=settings["JWT_ACCESS_MINUTES"]),
        JWT_REFRESH_TOKEN_EXPIRES=dt.timedelta(days=settings["JWT_REFRESH_DAYS"]),
        JWT_TOKEN_LOCATION=["headers"],
        PICKUP_SECRET=settings.get("PICKUP_SECRET") or settings["JWT_SECRET_KEY"],
        RATE_LIMIT_DEFAULT=settings["RATE_LIMIT_DEFAULT"],
        RATELIMIT_HEADERS_ENABLED=True,
        # OpenAPI: 3.0 for the bundled Swagger UI 4; the envelope documented on every answer
        OPENAPI_VERSION="3.0.3",
        BASE_RESPONSE_SCHEMA=Envelope,
        BASE_RESPONSE_DATA_KEY="data",
        HTTP_ERROR_SCHEMA=ErrorEnvelope,
        VALIDATION_ERROR_SCHEMA=ErrorEnvelope,
        VALIDATION_ERROR_STATUS_CODE=400,
        AUTO_OPERATION_ID=True,
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        SWAGGER_UI_CSS=f"{API_PREFIX}/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{API_PREFIX}/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{API_PREFIX}/docs/assets/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{API_PREFIX}/docs/assets/favicon-32x32.png",
        INFO={"description": "SkyPost REST API for the mobile app and the admin panel. Every answer is "
                             '{"success", "data", "error": {"code", "message"}}.'},
    )


def _envelope_spec(spec: dict) -> dict:
    """APIFlask wraps every documented schema, errors included, in the base schema's `data`. Our errors carry
    no data: each 4xx/5xx JSON answer is documented as ErrorEnvelope, and every answer requires all three keys."""
    error_ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {}).get("application/json")
                if content is None:
                    continue
                if str(status)[0] in "45":
                    content["schema"] = error_ref
                elif content.get("schema", {}).get("properties", {}).get("error") is not None:
                    schema = content["schema"]
                    schema["properties"]["error"] = {"type": "object", "nullable": True, "enum": [None]}
                    schema["required"] = ["success", "data", "error"]
    envelope = spec.get("components", {}).get("schemas", {}).get("ErrorEnvelope")
    if envelope is not None:
        envelope["required"] = ["success", "data", "error"]
    return spec


def _sqlite_pragmas(app: APIFlask) -> None:
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    with app.app_context():
        @event.listens_for(db.engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> APIFlask:
    """Defaults, then SKYPOST_* from the environment, then `config` (tests pass a mapping)."""
    app = APIFlask("skypost_web", title="SkyPost API", version="1.0",
                   spec_path=f"{API_PREFIX}/openapi.json", docs_path=f"{API_PREFIX}/docs", docs_ui="swagger-ui")
    settings = load_settings(environ, config)
    _configure(app, settings)
    logging.getLogger("skypost_web").setLevel(logging.INFO)

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR)
    jwt.init_app(app)
    limiter.init_app(app)
    origins = [o.strip() for o in settings["CORS_ORIGINS"].split(",") if o.strip()]
    cors.init_app(app, resources={rf"{API_PREFIX}/*": {"origins": origins}}, supports_credentials=False)
    ros.init_app(app)
    _sqlite_pragmas(app)
    if settings["PROXY_HOPS"]:
        # Behind a proxy every request comes from the proxy's address: the client's is in X-Forwarded-For, and
        # the rate limits must count per client, not for the whole site.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings["PROXY_HOPS"], x_proto=settings["PROXY_HOPS"])

    register_error_handlers(app)
    from skypost_web.api import register_blueprints
    from skypost_web.api.auth import register_jwt_callbacks

    register_jwt_callbacks(jwt)
    register_blueprints(app, API_PREFIX)
    from skypost_web.admin import init_app as init_admin_panel

    init_admin_panel(app)  # the admin panel's pages under /admin
    metrics.init_app(app)
    app.spec_processor(_envelope_spec)
    from skypost_web.cli import register as register_commands

    register_commands(app.cli)
    return app
