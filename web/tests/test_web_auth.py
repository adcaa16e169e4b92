"""Accounts and tokens: register, login, refresh, me; missing, expired, tampered and wrong-type tokens."""
import datetime as dt

import pytest
from conftest import PASSWORD, assert_envelope

pytestmark = pytest.mark.unit


def test_register_logs_the_new_customer_in(client):
    body = assert_envelope(client.post("/api/v1/auth/register",
                                       json={"username": "carol", "password": PASSWORD, "email": "c@example.org"}), 201)
    assert body["data"]["user"]["role"] == "customer"
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['data']['access_token']}"})
    assert assert_envelope(me, 200)["data"]["username"] == "carol"


@pytest.mark.parametrize("payload, field", [
    ({"password": PASSWORD}, "username"),
    ({"username": "carol"}, "password"),
    ({"username": "x", "password": PASSWORD}, "username"),
    ({"username": "carol", "password": "short"}, "password"),
    ({"username": "bad name!", "password": PASSWORD}, "username"),
    ({"username": "carol", "password": PASSWORD, "email": "not-an-email"}, "email"),
    ({"username": "carol", "password": PASSWORD, "role": "admin"}, "role"),
    ({"username": 5, "password": PASSWORD}, "username"),
])
def test_register_refuses_bad_input_field_by_field(client, payload, field):
    body = assert_envelope(client.post("/api/v1/auth/register", json=payload), 400, "validation_error")
    assert field in body["error"]["fields"]


def test_register_refuses_a_taken_username(client, accounts):
    assert_envelope(client.post("/api/v1/auth/register", json={"username": "alice", "password": PASSWORD}), 409,
                    "username_taken")


@pytest.mark.parametrize("data, content_type", [("{not json", "application/json"), ("username=a", "text/plain"),
                                                ("[1, 2]", "application/json")])
def test_register_refuses_a_body_that_is_not_a_json_object(client, data, content_type):
    response = client.post("/api/v1/auth/register", data=data, content_type=content_type)
    assert response.status_code in (400, 415)
    assert_envelope(response, response.status_code)


def test_login_returns_access_and_refresh_tokens(client, accounts):
    body = assert_envelope(client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}), 200)
    assert body["data"]["token_type"] == "Bearer" and body["data"]["refresh_token"]
    assert body["data"]["user"]["username"] == "alice"


@pytest.mark.parametrize("username, password", [("alice", "wrong-password"), ("nobody", PASSWORD)])
def test_login_refuses_wrong_credentials_alike(client, accounts, username, password):
    body = assert_envelope(client.post("/api/v1/auth/login", json={"username": username, "password": password}),
                           401, "bad_credentials")
    assert body["error"]["message"] == "wrong username or password"


def test_login_refuses_a_disabled_account(app, client, accounts):
    from skypost_web.extensions import db
    from skypost_web.models import User

    with app.app_context():
        db.session.get(User, accounts.ids["alice"]).active = False
        db.session.commit()
    assert_envelope(client.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}), 401,
                    "bad_credentials")
    assert_envelope(client.get("/api/v1/auth/me", headers=accounts.headers("alice")), 401, "unknown_user")


def test_refresh_needs_the_refresh_token(client, accounts):
    tokens = assert_envelope(client.post("/api/v1/auth/login", json={"username": "bob", "password": PASSWORD}),
                             200)["data"]
    refreshed = client.post("/api/v1/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"})
    access = assert_envelope(refreshed, 200)["data"]["access_token"]
    assert_envelope(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {access}"}), 200)
    # an access token is not a refresh token, and the other way round
    with_access = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_envelope(client.post("/api/v1/auth/refresh", headers=with_access), 401, "invalid_token")
    assert_envelope(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}),
                    401, "invalid_token")


def test_me_without_a_token(client):
    assert_envelope(client.get("/api/v1/auth/me"), 401, "unauthorized")


def test_expired_token_is_refused(client, accounts):
    token = accounts.token("alice", expires_delta=dt.timedelta(seconds=-60))
    assert_envelope(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}), 401, "token_expired")


def test_tampered_token_is_refused(client, accounts):
    header, payload, signature = accounts.token("alice").split(".")
    forged = f"{header}.{payload}.{signature[:-4]}{'AAAA' if signature[-4:] != 'AAAA' else 'BBBB'}"
    assert_envelope(client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"}), 401, "invalid_token")


def test_token_signed_with_another_key_is_refused(client, accounts):
    import jwt

    claims = {"sub": str(accounts.ids["admin"]), "type": "access", "role": "admin",
              "exp": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)}
    other = jwt.encode(claims, "not-the-key-but-just-as-long-as-a-real-one", algorithm="HS256")
    assert_envelope(client.get("/api/v1/admin/users", headers={"Authorization": f"Bearer {other}"}), 401,
                    "invalid_token")


@pytest.mark.parametrize("header", ["Bearer", "Bearer not.a.jwt", "Basic YWxpY2U6eA==", "Bearer a b"])
def test_malformed_authorization_headers(client, header):
    response = client.get("/api/v1/auth/me", headers={"Authorization": header})
    assert_envelope(response, 401)
