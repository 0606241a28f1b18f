"""OIDC login against a real local provider (tests/support/oidc_provider.py on uvicorn): the whole
authorization code flow driven with httpx, redirects followed by hand, and the checks that must
refuse a login (audience, nonce, signature, expiry, state, domain, no auto-creation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from axiom.admin.accounts import create_user
from axiom.config import Settings
from axiom.db.repositories import auth as auth_repo
from axiom.domain.auth import Role, UserCreate
from tests.support.oidc_provider import FakeOidcProvider, Spoil
from tests.unit.api.conftest import audit_rows, audit_text

CLIENT_ID = "axiom-test-client"
CLIENT_SECRET = "provider-client-secret-1"
CALLBACK = "http://testserver/api/v1/auth/oidc/callback"


@pytest.fixture
def provider() -> Iterator[FakeOidcProvider]:
    with FakeOidcProvider(CLIENT_ID, CLIENT_SECRET) as provider:
        yield provider


def _oidc_client(settings: Settings, provider: FakeOidcProvider, **overrides: Any) -> TestClient:
    configured = settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_redirect_url": CALLBACK,
            "oidc_allowed_domains": ["example.org"],
            "oidc_auto_create": True,
            **overrides,
        }
    )
    return TestClient(create_app(configured))


def _flow(client: TestClient, provider: FakeOidcProvider) -> httpx.Response:
    """Login -> the provider's authorize endpoint -> the callback, each redirect followed by hand."""
    start = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
    assert start.status_code == 302, start.text
    authorize = start.headers["location"]
    assert authorize.startswith(f"{provider.issuer}/authorize?")
    params = parse_qs(urlsplit(authorize).query)
    assert params["client_id"] == [CLIENT_ID] and params["redirect_uri"] == [CALLBACK]
    assert params["code_challenge_method"] == ["S256"] and params["code_challenge"][0]
    assert params["state"][0] and params["nonce"][0]
    assert "openid" in params["scope"][0].split() and "email" in params["scope"][0].split()

    back = httpx.get(authorize, follow_redirects=False)
    assert back.status_code == 302, back.text
    callback = back.headers["location"]
    assert callback.startswith(f"{CALLBACK}?")
    return client.get(callback, follow_redirects=False)


def test_login_creates_the_user_and_the_token_works(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    with _oidc_client(settings, provider) as client:
        done = _flow(client, provider)
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 3600
        # The flow cookie is spent.
        assert "axiom_oidc" in done.headers.get("set-cookie", "")

        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
        assert me.status_code == 200
        assert me.json() == {"name": "alice@example.org", "kind": "user", "role": "user"}

        # The provider saw client authentication and a PKCE verifier matching the challenge.
        assert [(r.client_id, r.pkce_ok) for r in provider.token_requests] == [(CLIENT_ID, True)]

        # A second login maps to the same user (no second creation).
        again = _flow(client, provider)
        assert again.status_code == 200, again.text

    with sessions() as session:
        user = auth_repo.get_user_by_username(session, "alice@example.org")
        assert user is not None and user.role == Role.USER and user.active
    assert [r.actor for r in audit_rows(sessions, "auth.oidc_login")] == ["alice@example.org"] * 2
    assert [r.target for r in audit_rows(sessions, "user.created")] == ["user:alice@example.org"]
    assert CLIENT_SECRET not in audit_text(sessions)


def test_existing_user_keeps_its_role_without_auto_creation(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        create_user(
            session,
            UserCreate(username="alice@example.org", password="a-local-password", role=Role.USER),
            actor="test",
        )
        session.commit()
    with _oidc_client(settings, provider, oidc_auto_create=False) as client:
        done = _flow(client, provider)
        assert done.status_code == 200, done.text
        me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {done.json()['access_token']}"})
        assert me.json() == {"name": "alice@example.org", "kind": "user", "role": "user"}


def test_a_login_is_never_linked_to_a_local_admin_account(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    """Whoever holds alice@example.org at the provider does not become the local administrator
    of that name; an administrator account the OIDC login created itself still signs in."""
    with sessions() as session:
        create_user(
            session,
            UserCreate(username="alice@example.org", password="a-local-password", role=Role.SUPERUSER),
            actor="test",
        )
        session.commit()
    with _oidc_client(settings, provider) as client:
        refused = _flow(client, provider)
        assert refused.status_code == 403, refused.text
        assert "not created for OIDC" in refused.json()["detail"]
        assert "access_token" not in refused.text
        # The local password still works.
        local = {"username": "alice@example.org", "password": "a-local-password"}
        assert client.post("/api/v1/auth/login", json=local).status_code == 200
    assert [r.target for r in audit_rows(sessions, "auth.oidc_login_refused")] == ["user:alice@example.org"]
    assert audit_rows(sessions, "auth.oidc_login") == []


def test_created_users_get_the_configured_role(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    provider.email = "Bob@Example.org"
    with _oidc_client(settings, provider, oidc_default_role=Role.ADMIN) as client:
        done = _flow(client, provider)
        assert done.status_code == 200, done.text
        # The admin account the OIDC login created is its own: the next login links to it ...
        again = _flow(client, provider)
        assert again.status_code == 200, again.text
        # ... and no password signs in to it.
        for password in ("", "!oidc-only", "a-guess"):
            attempt = {"username": "bob@example.org", "password": password}
            assert client.post("/api/v1/auth/login", json=attempt).status_code == 401
    with sessions() as session:
        user = auth_repo.get_user_by_username(session, "bob@example.org")
        assert user is not None and user.role == Role.ADMIN


@pytest.mark.parametrize(
    ("spoil", "reason"),
    [
        (Spoil(audience="someone-else"), "aud"),
        (Spoil(issuer="https://evil.example.com"), "iss"),
        (Spoil(nonce="not-the-nonce"), "nonce"),
        (Spoil(other_key=True), "signature"),
        (Spoil(expired=True), "exp"),
    ],
    ids=["audience", "issuer", "nonce", "signature", "expired"],
)
def test_a_bad_id_token_is_refused(
    settings: Settings,
    provider: FakeOidcProvider,
    sessions: sessionmaker[Session],
    spoil: Spoil,
    reason: str,
) -> None:
    with _oidc_client(settings, provider) as client:
        provider.spoil = spoil
        refused = _flow(client, provider)
        assert refused.status_code == 401, refused.text
        assert "ID token is not valid" in refused.json()["detail"]
        assert reason in refused.json()["detail"]
    with sessions() as session:
        assert auth_repo.get_user_by_username(session, "alice@example.org") is None
    rows = audit_rows(sessions, "auth.oidc_login_refused")
    assert len(rows) == 1 and rows[0].actor == "anonymous"
    assert audit_rows(sessions, "auth.oidc_login") == []


def test_a_disallowed_domain_is_refused(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    provider.email = "mallory@elsewhere.com"
    with _oidc_client(settings, provider) as client:
        refused = _flow(client, provider)
        assert refused.status_code == 403
        assert "elsewhere.com is not allowed" in refused.json()["detail"]
    with sessions() as session:
        assert auth_repo.get_user_by_username(session, "mallory@elsewhere.com") is None
    rows = audit_rows(sessions, "auth.oidc_login_refused")
    assert [r.target for r in rows] == ["user:mallory@elsewhere.com"]


@pytest.mark.parametrize("verified", [False, None], ids=["false", "absent"])
def test_an_unverified_email_is_refused(
    settings: Settings,
    provider: FakeOidcProvider,
    sessions: sessionmaker[Session],
    verified: bool | str | None,
) -> None:
    provider.email_verified = verified
    with _oidc_client(settings, provider) as client:
        refused = _flow(client, provider)
        assert refused.status_code == 403 and "email_verified must be true" in refused.json()["detail"]
    with sessions() as session:
        assert auth_repo.get_user_by_username(session, "alice@example.org") is None


def test_no_auto_creation_refuses_unknown_users(
    settings: Settings, provider: FakeOidcProvider, sessions: sessionmaker[Session]
) -> None:
    with _oidc_client(settings, provider, oidc_auto_create=False) as client:
        refused = _flow(client, provider)
        assert refused.status_code == 403
        assert "auto-creation is off" in refused.json()["detail"]
    with sessions() as session:
        assert auth_repo.get_user_by_username(session, "alice@example.org") is None
    assert len(audit_rows(sessions, "auth.oidc_login_refused")) == 1


def test_a_forged_state_or_missing_flow_cookie_is_refused(
    settings: Settings, provider: FakeOidcProvider
) -> None:
    with _oidc_client(settings, provider) as client:
        start = client.get("/api/v1/auth/oidc/login", follow_redirects=False)
        back = httpx.get(start.headers["location"], follow_redirects=False)
        callback = urlsplit(back.headers["location"])
        code = parse_qs(callback.query)["code"][0]
        forged = client.get("/api/v1/auth/oidc/callback", params={"code": code, "state": "forged"})
        assert forged.status_code == 400 and "state" in forged.json()["detail"]
        client.cookies.clear()
        no_cookie = client.get(back.headers["location"])
        assert no_cookie.status_code == 400 and "no login flow" in no_cookie.json()["detail"]
        denied = client.get("/api/v1/auth/oidc/callback", params={"error": "access_denied"})
        assert denied.status_code == 401
    # The code was never exchanged.
    assert provider.token_requests == []


def test_oidc_is_off_when_unset(client: TestClient) -> None:
    for path in ("/api/v1/auth/oidc/login", "/api/v1/auth/oidc/callback"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 404
        assert "OIDC login is not configured" in response.json()["detail"]


def test_a_login_started_from_the_console_signs_the_console_in(
    settings: Settings, provider: FakeOidcProvider
) -> None:
    with _oidc_client(settings, provider) as client:
        page = client.get("/login")
        assert 'href="/api/v1/auth/oidc/login?console=true"' in page.text
        start = client.get("/api/v1/auth/oidc/login?console=true", follow_redirects=False)
        back = httpx.get(start.headers["location"], follow_redirects=False)
        done = client.get(back.headers["location"], follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == "/"
        cookies = done.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("axiom_session="))
        assert "HttpOnly" in session and "SameSite=strict" in session
        dashboard = client.get("/")
        assert dashboard.status_code == 200 and "alice@example.org (user)" in dashboard.text
