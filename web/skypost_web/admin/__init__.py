"""The admin panel: live monitoring and control of the fleet in the browser (pages under /admin).

The page is one HTML shell with plain ES modules (no build step). Live data and operator actions go from the
browser straight to the bridge (roslibjs, rosbridge v2) with a short-lived token from POST /api/v1/bridge/token;
this blueprint serves the shell, its static files, roslibjs from web/node_modules and the site layout. Every asset
comes from this server: the Content-Security-Policy allows nothing else but the bridge's WebSocket.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from flask import Blueprint, Flask, Response, current_app, render_template, send_from_directory
from werkzeug.exceptions import NotFound

from skypost_web.admin.site import SiteFileError, load_site
from skypost_web.errors import ApiError
from skypost_web.security import roles_required

STAFF_ROLES = ("admin", "operator")
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_NODE_MODULES = PACKAGE_DIR.parents[1] / "node_modules"  # web/node_modules of the checkout
# Browser files served from node_modules: URL name -> path inside node_modules (nothing else is reachable)
VENDOR_FILES = {"roslib.min.js": "roslib/build/roslib.min.js", "roslib.js": "roslib/build/roslib.js"}

bp = Blueprint("admin_panel", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static", static_url_path="/static")


def node_modules_dir() -> Path:
    """ADMIN_NODE_MODULES from the config when set (an installed package has no checkout beside it)."""
    configured = current_app.config.get("ADMIN_NODE_MODULES")
    return Path(configured) if configured else DEFAULT_NODE_MODULES


def bridge_origin(url: str) -> str:
    """The scheme://host:port of the bridge URL, for connect-src ('' when the URL is not a WebSocket URL)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("ws", "wss") or not parsed.hostname:
        return ""
    return f"{parsed.scheme}://{parsed.netloc}"


def content_security_policy(bridge_url: str) -> str:
    connect = " ".join(filter(None, ("'self'", bridge_origin(bridge_url))))
    return ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
            f"connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(current_app.config.get("BRIDGE_URL", ""))
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("")
@bp.get("/")
def index() -> str:
    """The panel's shell; the views are client-side (#/map, #/drones, #/deliveries, #/lockers, #/alerts, ...)."""
    return render_template("admin/index.html")


@bp.get("/vendor/<string:name>")
def vendor(name: str) -> Response:
    """roslibjs from web/node_modules (installed by `make deps` from web/package.json)."""
    relative = VENDOR_FILES.get(name)
    if relative is None:
        raise NotFound(f"no vendor file {name!r}")
    path = node_modules_dir() / relative
    if not path.is_file():
        raise ApiError(503, "vendor_missing", f"{relative} is not installed under {node_modules_dir()}: run make deps")
    response = send_from_directory(path.parent, path.name, mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/api/site")
@roles_required(*STAFF_ROLES)
def site() -> dict:
    """Bases, lockers and drones' home bases from the world file (staff only)."""
    try:
        layout = load_site(current_app.config["WORLD_FILE"])
    except SiteFileError as exc:
        raise ApiError(503, "site_unavailable", str(exc)) from exc
    return {"success": True, "data": layout, "error": None}


def init_app(app: Flask) -> None:
    """Register the panel (called once by create_app). Its static files are not rate limited."""
    from skypost_web.extensions import limiter

    limiter.exempt(bp)
    app.register_blueprint(bp)
