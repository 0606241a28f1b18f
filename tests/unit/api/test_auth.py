"""Authentication and roles over the real app: every route but /health needs a credential, logins
are audited and rate limited, API keys are shown once and stop working when revoked, users are
managed by superusers only, and no password or key ever reaches an audit row."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from api.main import create_app
from axiom.admin.auth import create_access_token, verify_password
from axiom.config import Settings
from axiom.db.models import ApiKey, User
from axiom.db.repositories import auth as auth_repo
from cli.main import app as cli_app
from tests.unit.api.conftest import ROOT_PASSWORD, Credentials, audit_rows, audit_text

# /ready is for probes and load balancers: it says only which dependency failed, never data.
# The OIDC login routes are public by design (a browser follows them before it has a token).
PUBLIC = {"/health", "/ready", "/api/v1/auth/login", "/api/v1/auth/oidc/login", "/api/v1/auth/oidc/callback"}


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda m: "1" if m.group(0) == "{key_id}" else "x", path)


def test_every_route_but_health_and_login_needs_a_credential(client: TestClient) -> None:
    # Every route the app documents (the OpenAPI schema lists them all).
    paths: dict[str, dict[str, object]] = client.get("/openapi.json").json()["paths"]
    checked = 0
    for path, methods in paths.items():
        if path in PUBLIC:
            continue
        for method in methods:
            response = client.request(method, _concrete(path))
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
            bad = client.request(method, _concrete(path), headers={"X-API-Key": "axk_nope_nope"})
            assert bad.status_code == 401, (method, path)
            checked += 1
    assert checked >= 20
    assert client.get("/health").status_code == 200


def test_login_by_json_and_form_gives_a_token_and_audits(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    form = client.post("/api/v1/auth/login", data={"username": "root", "password": ROOT_PASSWORD})
    assert form.status_code == 200 and form.json()["token_type"] == "bearer"
    assert form.json()["expires_in"] == 3600
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {form.json()['access_token']}"})
    assert me.json() == {"name": "root", "kind": "user", "role": "superuser"}
    assert client.get("/api/v1/auth/me", headers=creds.user).json() == {
        "name": "reader",
        "kind": "api_key",
        "role": "user",
    }

    wrong = client.post("/api/v1/auth/login", json={"username": "root", "password": "not-the-password"})
    assert wrong.status_code == 401
    unknown = client.post("/api/v1/auth/login", json={"username": "nobody", "password": ROOT_PASSWORD})
    assert unknown.status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "root"}).status_code == 422

    assert [r.actor for r in audit_rows(sessions, "auth.login")] == ["root", "root"]
    failed = audit_rows(sessions, "auth.login_failed")
    assert [(r.actor, r.target) for r in failed] == [("anonymous", "user:root"), ("anonymous", "user:nobody")]
    text = audit_text(sessions)
    assert ROOT_PASSWORD not in text and "not-the-password" not in text


def test_failed_logins_are_rate_limited_per_username_and_client(
    client: TestClient, creds: Credentials
) -> None:
    # settings: login_max_failures=3
    for _ in range(3):
        assert (
            client.post("/api/v1/auth/login", json={"username": "root", "password": "x"}).status_code == 401
        )
    blocked = client.post("/api/v1/auth/login", json={"username": "root", "password": ROOT_PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["retry-after"]) <= 300
    # Another username from the same client is not blocked by root's failures.
    assert client.post("/api/v1/auth/login", json={"username": "other", "password": "x"}).status_code == 401


def test_bad_expired_and_foreign_tokens_are_refused(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        root = auth_repo.get_user_by_username(session, "root")
        assert root is not None
        secret = client.app.state.jwt_secret  # type: ignore[attr-defined]
        expired = create_access_token(secret, root, expire_minutes=-1).token
        foreign = create_access_token("another-secret" * 4, root, expire_minutes=5).token
        good = create_access_token(secret, root, expire_minutes=5).token
    for token in (expired, foreign, "not.a.jwt"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {good}"}).status_code == 200


def test_generated_jwt_secret_is_kept_0600_and_survives_a_restart(
    settings: Settings, creds: Credentials
) -> None:
    secret_file = settings.jwt_secret_file
    assert stat.S_IMODE(os.stat(secret_file).st_mode) == 0o600
    restarted = create_app(settings)
    assert restarted.state.jwt_secret == secret_file.read_text().strip()
    with TestClient(restarted) as client:
        assert client.get("/api/v1/auth/me", headers=creds.superuser).status_code == 200


def test_configured_jwt_secret_writes_no_file(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", jwt_secret="s" * 40)  # type: ignore[arg-type]
    assert create_app(settings).state.jwt_secret == "s" * 40
    assert not settings.jwt_secret_file.exists()


def test_api_keys_shown_once_listed_without_material_and_revoked(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    made = client.post(
        "/api/v1/auth/api-keys", json={"name": "pacs-sync", "role": "admin"}, headers=creds.superuser
    )
    assert made.status_code == 201, made.text
    key, key_id = made.json()["key"], made.json()["id"]
    assert made.json()["owner"] == "root"

    listing = client.get("/api/v1/auth/api-keys", headers=creds.admin)
    assert listing.status_code == 200
    assert {k["name"] for k in listing.json()} == {"reader", "deployer", "pacs-sync"}
    assert key not in listing.text and "key_hash" not in listing.text
    assert all("key" not in item for item in listing.json())

    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).json()["role"] == "admin"
    with sessions() as session:
        row = session.get(ApiKey, key_id)
        assert row is not None and row.last_used_at is not None
        assert row.key_hash != key and key not in row.key_hash

    assert client.delete(f"/api/v1/auth/api-keys/{key_id}", headers=creds.admin).status_code == 204
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": key}).status_code == 401
    assert client.delete("/api/v1/auth/api-keys/9999", headers=creds.admin).status_code == 404

    assert [r.target for r in audit_rows(sessions, "api_key.created")][-1] == f"api_key:{key_id}"
    revoked = audit_rows(sessions, "api_key.revoked")
    assert [(r.actor, r.target) for r in revoked] == [("api-key:deployer", f"api_key:{key_id}")]
    text = audit_text(sessions)
    assert all(k not in text for k in [key, *creds.keys.values()])


def test_roles_on_the_auth_routes(client: TestClient, creds: Credentials) -> None:
    new_key = {"name": "k", "role": "user"}
    assert client.post("/api/v1/auth/api-keys", json=new_key, headers=creds.user).status_code == 403
    assert client.get("/api/v1/auth/api-keys", headers=creds.user).status_code == 403
    assert client.post("/api/v1/auth/api-keys", json=new_key, headers=creds.admin).status_code == 201
    # A key never gets more than its creator has.
    too_high = client.post(
        "/api/v1/auth/api-keys", json={"name": "k2", "role": "superuser"}, headers=creds.admin
    )
    assert too_high.status_code == 403
    for headers in (creds.user, creds.admin):
        assert client.get("/api/v1/auth/users", headers=headers).status_code == 403
        body = {"username": "eve", "password": "long-enough"}
        assert client.post("/api/v1/auth/users", json=body, headers=headers).status_code == 403
    assert client.get("/api/v1/auth/users", headers=creds.superuser).status_code == 200
    top = client.post(
        "/api/v1/auth/api-keys", json={"name": "top", "role": "superuser"}, headers=creds.superuser
    )
    assert top.status_code == 201
    assert client.delete(f"/api/v1/auth/api-keys/{top.json()['id']}", headers=creds.admin).status_code == 403
    assert client.delete(f"/api/v1/auth/api-keys/{top.json()['id']}", headers=creds.user).status_code == 403
    assert (
        client.delete(f"/api/v1/auth/api-keys/{top.json()['id']}", headers=creds.superuser).status_code == 204
    )


def test_users_crud_by_a_superuser(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    su = creds.superuser
    short = client.post("/api/v1/auth/users", json={"username": "ann", "password": "short"}, headers=su)
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    assert "short" not in str(short.json()["detail"][0].get("input", ""))

    made = client.post(
        "/api/v1/auth/users",
        json={"username": "ann", "password": "ann-password", "role": "admin"},
        headers=su,
    )
    assert made.status_code == 201 and made.json()["role"] == "admin"
    again = client.post(
        "/api/v1/auth/users", json={"username": "ann", "password": "ann-password"}, headers=su
    )
    assert again.status_code == 409
    token = client.post("/api/v1/auth/login", json={"username": "ann", "password": "ann-password"}).json()
    ann = {"Authorization": f"Bearer {token['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=ann).json()["role"] == "admin"
    # A key ann makes is hers: it never acts above her current role and dies with her.
    made_key = client.post(
        "/api/v1/auth/api-keys", json={"name": "anns", "role": "admin"}, headers=ann
    ).json()
    anns_key = {"X-API-Key": made_key["key"]}
    assert made_key["owner"] == "ann"
    assert client.get("/api/v1/auth/me", headers=anns_key).json()["role"] == "admin"

    # A changed role applies to tokens already issued; a deactivated user's token stops working.
    patched = client.patch(
        "/api/v1/auth/users/ann", json={"role": "user", "password": "new-password"}, headers=su
    )
    assert patched.status_code == 200 and patched.json()["role"] == "user"
    assert client.get("/api/v1/auth/me", headers=ann).json()["role"] == "user"
    assert client.get("/api/v1/auth/me", headers=anns_key).json()["role"] == "user"
    with sessions() as session:
        row = session.scalars(select(User).where(User.username == "ann")).one()
        assert verify_password(row.password_hash, "new-password") and "new-password" not in row.password_hash
    client.patch("/api/v1/auth/users/ann", json={"active": False}, headers=su)
    assert client.get("/api/v1/auth/me", headers=ann).status_code == 401
    assert client.get("/api/v1/auth/me", headers=anns_key).status_code == 401
    refused = client.post("/api/v1/auth/login", json={"username": "ann", "password": "new-password"})
    assert refused.status_code == 401

    assert [u["username"] for u in client.get("/api/v1/auth/users", headers=su).json()] == ["ann", "root"]
    assert client.delete("/api/v1/auth/users/ann", headers=su).status_code == 204
    assert client.get("/api/v1/auth/users/ann", headers=su).status_code == 404
    with sessions() as session:
        assert session.get(ApiKey, made_key["id"]) is None
    # Nobody could manage users without a superuser.
    assert client.delete("/api/v1/auth/users/root", headers=su).status_code == 409
    assert client.patch("/api/v1/auth/users/root", json={"role": "admin"}, headers=su).status_code == 409

    actions = [(r.action, r.target, r.actor) for r in audit_rows(sessions) if r.action.startswith("user.")]
    assert actions == [
        ("user.created", "user:root", "test"),
        ("user.created", "user:ann", "root"),
        ("user.updated", "user:ann", "root"),
        ("user.updated", "user:ann", "root"),
        ("user.deleted", "user:ann", "root"),
    ]
    text = audit_text(sessions)
    assert "ann-password" not in text and "new-password" not in text and ROOT_PASSWORD not in text


def test_cli_creates_a_superuser_and_an_api_key(
    settings: Settings, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXIOM_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("AXIOM_DATABASE_URL", settings.effective_database_url)
    runner = CliRunner()
    made = runner.invoke(
        cli_app,
        ["users", "create-superuser", "--username", "ops", "--password-stdin"],
        input="ops-password\n",
    )
    assert made.exit_code == 0, made.output
    short = runner.invoke(
        cli_app, ["users", "create-superuser", "--username", "x", "--password-stdin"], input="short\n"
    )
    assert short.exit_code == 2 and "short" not in short.output.replace("--password", "")
    login = client.post("/api/v1/auth/login", json={"username": "ops", "password": "ops-password"})
    assert login.status_code == 200

    key = runner.invoke(cli_app, ["users", "create-api-key", "--name", "ci", "--role", "admin"])
    assert key.exit_code == 0, key.output
    printed = key.stdout.strip()
    assert printed.startswith("axk_")
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": printed}).json() == {
        "name": "ci",
        "kind": "api_key",
        "role": "admin",
    }
