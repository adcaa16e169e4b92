"""One error path: every failure, raised anywhere, answers the envelope with a status and a stable code."""
from __future__ import annotations

import logging
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, jsonify
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

DEFAULT_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "validation_error",
    429: "rate_limited", 500: "internal_error", 503: "unavailable",
}


class ApiError(HTTPError):
    """Raise from any view or service: ApiError(404, "order_not_found", "no order 12")."""

    def __init__(self, status: int, code: str, message: str, fields: dict | None = None) -> None:
        super().__init__(status, message, detail=fields or {}, extra_data={"code": code})


def envelope_error(status: int, code: str, message: str, fields: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"success": False, "data": None, "error": error}


def error_response(status: int, code: str, message: str, fields: Any = None,
                   headers: dict | None = None) -> Response:
    response = jsonify(envelope_error(status, code, message, fields))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error(error: HTTPError) -> Response:
    status = error.status_code
    code = (error.extra_data or {}).get("code") or DEFAULT_CODES.get(status, "error")
    fields = error.detail or None
    if status in (400, 422) and fields and "code" not in (error.extra_data or {}):
        code, fields = "validation_error", _flatten_locations(fields)
    message = error.message if isinstance(error.message, str) else str(error.message)
    headers = dict(error.headers or {})
    return error_response(status, code, message, fields, headers)


def _flatten_locations(detail: dict) -> dict:
    """APIFlask reports {"json": {"field": [...]}}; clients want {"field": [...]} (location kept if ambiguous)."""
    if isinstance(detail, dict) and len(detail) == 1:
        only = next(iter(detail.values()))
        if isinstance(only, dict):
            return only
    return detail


def register_error_handlers(app: APIFlask) -> None:
    app.config["VALIDATION_ERROR_STATUS_CODE"] = 400

    @app.error_processor
    def _process(error: HTTPError) -> Response:
        return _http_error(error)

    @app.errorhandler(HTTPException)
    def _werkzeug(error: HTTPException) -> Response:
        status = error.code or 500
        headers = {}
        if status == 405 and getattr(error, "valid_methods", None):
            headers["Allow"] = ", ".join(error.valid_methods)
        message = error.description or DEFAULT_CODES.get(status, "error")
        return error_response(status, DEFAULT_CODES.get(status, "error"), message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPError):
            return _http_error(error)
        log.exception("unhandled error: %s", error)
        return error_response(500, "internal_error", "internal server error")
