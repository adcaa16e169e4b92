"""Passwords (bcrypt), roles on views, and the HS256 tokens the bridge accepts."""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import Any

import bcrypt
import jwt as pyjwt
from flask_jwt_extended import current_user, verify_jwt_in_request

from skypost_web.errors import ApiError

BCRYPT_MAX_BYTES = 72


def hash_password(password: str, rounds: int | None = None) -> str:
    if rounds is None:
        rounds = _configured_rounds()
    return bcrypt.hashpw(password.encode()[:BCRYPT_MAX_BYTES], bcrypt.gensalt(rounds)).decode()


def _configured_rounds() -> int:
    from flask import current_app, has_app_context

    return int(current_app.config["BCRYPT_ROUNDS"]) if has_app_context() else 12


def check_password(password: str, password_hash: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode()[:BCRYPT_MAX_BYTES], password_hash.encode())
    except ValueError:  # a malformed stored hash never authenticates anyone
        return False


def roles_required(*roles: str) -> Callable:
    """A valid access token of an active user with one of `roles` (any role when none is given)."""

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            verify_jwt_in_request()
            if roles and current_user.role not in roles:
                raise ApiError(403, "forbidden", f"this needs the role {' or '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper

    return decorator


def bridge_token(secret: str, subject: str, role: str, ttl_s: float,
                 now: dt.datetime | None = None) -> tuple[str, dt.datetime]:
    """An HS256 JWT (`sub`, `role`, `exp`) for the rosbridge `auth` op (docs/interfaces.md)."""
    now = now or dt.datetime.now(dt.UTC)
    expires = now + dt.timedelta(seconds=ttl_s)
    claims = {"sub": subject, "role": role, "iat": int(now.timestamp()), "exp": int(expires.timestamp())}
    return pyjwt.encode(claims, secret, algorithm="HS256"), expires
