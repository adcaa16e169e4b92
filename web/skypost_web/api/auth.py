"""Accounts and tokens: register, login (access + refresh JWT), refresh, me."""
from __future__ import annotations

import functools

from apiflask import APIBlueprint
from flask import current_app
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    current_user,
    get_jwt,
    jwt_required,
)
from sqlalchemy import select

from skypost_web.api import AUTH, ok
from skypost_web.errors import ApiError, error_response
from skypost_web.extensions import db, limiter
from skypost_web.models import User
from skypost_web.schemas import AccessOut, LoginIn, RegisterIn, TokensOut, UserOut
from skypost_web.security import check_password, hash_password, roles_required

PATH = "/auth"
bp = APIBlueprint("auth", __name__, tag="Auth")


@functools.cache
def _dummy_hash(rounds: int) -> str:
    """Checked when the user does not exist, so unknown and known names take the same time."""
    return hash_password("not-a-real-password", rounds)


def register_jwt_callbacks(jwt: JWTManager) -> None:
    @jwt.user_identity_loader
    def _identity(user: User) -> str:
        return str(user.id)

    @jwt.additional_claims_loader
    def _claims(user: User) -> dict:
        return {"role": user.role}

    @jwt.user_lookup_loader
    def _lookup(_header: dict, payload: dict) -> User | None:
        try:
            user_id = int(payload["sub"])
        except (KeyError, TypeError, ValueError):
            return None
        user = db.session.get(User, user_id) if 0 < user_id < 2**31 else None
        return user if user is not None and user.active else None

    @jwt.user_lookup_error_loader
    def _lookup_error(_header: dict, _payload: dict):
        return error_response(401, "unknown_user", "the token's user does not exist or is disabled")

    @jwt.unauthorized_loader
    def _missing(reason: str):
        return error_response(401, "unauthorized", f"authentication required: {reason}")

    @jwt.invalid_token_loader
    def _invalid(reason: str):
        return error_response(401, "invalid_token", f"invalid token: {reason}")

    @jwt.expired_token_loader
    def _expired(_header: dict, _payload: dict):
        return error_response(401, "token_expired", "the token has expired")

    @jwt.revoked_token_loader
    def _revoked(_header: dict, _payload: dict):
        return error_response(401, "token_revoked", "the token has been revoked")

    @jwt.needs_fresh_token_loader
    def _needs_fresh(_header: dict, _payload: dict):
        return error_response(401, "fresh_token_required", "a fresh login is required")


def _tokens(user: User) -> dict:
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return {"access_token": create_access_token(identity=user), "refresh_token": create_refresh_token(identity=user),
            "token_type": "Bearer", "expires_in": int(expires.total_seconds()), "user": user}


@bp.post("/register")
@bp.input(RegisterIn, arg_name="data")
@bp.output(TokensOut, status_code=201)
@bp.doc(responses=[409])
def register(data: dict):
    """Create a customer account and log it in."""
    if db.session.scalar(select(User.id).where(User.username == data["username"])) is not None:
        raise ApiError(409, "username_taken", f"username {data['username']!r} is taken")
    user = User(username=data["username"], email=data.get("email"), password_hash=hash_password(data["password"]),
                role="customer")
    db.session.add(user)
    db.session.commit()
    return ok(_tokens(user))


@bp.post("/login")
@bp.input(LoginIn, arg_name="data")
@bp.output(TokensOut)
@bp.doc(responses=[401, 429])
@limiter.limit(lambda: current_app.config["RATE_LIMIT_LOGIN"])
def login(data: dict):
    """Exchange a username and password for an access and a refresh token."""
    user = db.session.scalar(select(User).where(User.username == data["username"]))
    stored = user.password_hash if user else _dummy_hash(current_app.config["BCRYPT_ROUNDS"])
    valid = check_password(data["password"], stored)
    if user is None or not valid or not user.active:
        raise ApiError(401, "bad_credentials", "wrong username or password")
    return ok(_tokens(user))


@bp.post("/refresh")
@bp.output(AccessOut)
@bp.doc(security=AUTH, description="Send the refresh token as the bearer token.")
@jwt_required(refresh=True)
def refresh():
    """A new access token for a refresh token."""
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return ok({"access_token": create_access_token(identity=current_user), "token_type": "Bearer",
               "expires_in": int(expires.total_seconds())})


@bp.get("/me")
@bp.output(UserOut)
@bp.doc(security=AUTH)
@roles_required()
def me():
    """The logged-in user."""
    if get_jwt().get("type") != "access":
        raise ApiError(401, "invalid_token", "an access token is required")
    return ok(current_user)
