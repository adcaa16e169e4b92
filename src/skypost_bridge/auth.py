"""Bridge tokens (docs/interfaces.md, Bridge authentication): HS256 JWTs with `sub`, `role`, `exp`, signed with the
shared secret and sent by the client as the `mac` field of the rosbridge `auth` op."""
from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import jwt


class AuthError(Exception):
    """The token is missing, malformed, badly signed, expired or names an unknown role."""


@dataclass(frozen=True)
class Identity:
    subject: str
    role: str
    expires: float  # epoch seconds


def verify_token(token: object, secret: str, roles: Collection[str], leeway: float = 5.0) -> Identity:
    if not isinstance(token, str) or not token:
        raise AuthError("auth: `mac` must carry the JWT")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], leeway=leeway,
                            options={"require": ["exp", "sub", "role"]})
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("auth: token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"auth: invalid token ({exc})") from exc
    role = claims.get("role")
    if not isinstance(role, str) or role not in roles:
        raise AuthError(f"auth: role {role!r} is not configured on this bridge")
    return Identity(str(claims["sub"]), role, float(claims["exp"]))


def issue_token(secret: str, subject: str, role: str, expires: float) -> str:
    """For tests, benchmarks and tools; the web app issues the real ones."""
    return jwt.encode({"sub": subject, "role": role, "exp": int(expires)}, secret, algorithm="HS256")
