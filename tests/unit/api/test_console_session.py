"""The console's session through the real app: sign-in sets an HttpOnly SameSite cookie (and checks
the login form's CSRF value), state-changing posts need the CSRF token, roles are enforced."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from axiom.admin.accounts import create_user
from axiom.config import Settings
from axiom.domain.auth import Role, UserCreate
from tests.unit.api.conftest import ROOT_PASSWORD, Credentials, audit_rows


def _sign_in(client: TestClient, username: str, password: str) -> str:
    form = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert token is not None
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "csrf": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    cookie = answer.headers["set-cookie"]
    assert "axiom_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = client.get("/")
    found = re.search(r'"X-CSRF-Token": "([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


def test_pages_need_a_session_and_the_login_form_its_csrf_value(
    client: TestClient, creds: Credentials
) -> None:
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    assert (
        client.get("/admin/users", follow_redirects=False).headers["location"] == "/login?next=/admin/users"
    )
    forged = client.post("/login", data={"username": "root", "password": ROOT_PASSWORD, "csrf": "x"})
    assert forged.status_code == 403
    assert client.get("/login").status_code == 200
    assert (
        client.post("/login", data={"username": "root", "password": "wrong", "csrf": "x"}).status_code == 403
    )


def test_state_changes_need_the_csrf_token_and_the_role(client: TestClient, creds: Credentials) -> None:
    csrf = _sign_in(client, "root", ROOT_PASSWORD)
    assert client.post("/admin/api-keys/create", data={"name": "k1", "role": "user"}).status_code == 403
    made = client.post("/admin/api-keys/create", data={"name": "k1", "role": "user", "csrf": csrf})
    assert made.status_code == 200 and 'id="new-key"' in made.text
    by_header = client.post(
        "/admin/api-keys/create", data={"name": "k2", "role": "user"}, headers={"X-CSRF-Token": csrf}
    )
    assert by_header.status_code == 200
    created = client.post(
        "/api/v1/auth/users",
        json={"username": "operator", "password": "operator-password", "role": "user"},
        headers=creds.superuser,
    )
    assert created.status_code == 201
    client.cookies.clear()
    user_csrf = _sign_in(client, "operator", "operator-password")
    page = client.get("/exceptions")
    assert page.status_code == 200 and "Destinations" not in page.text and "bulk-retry" not in page.text
    assert client.get("/admin/destinations").status_code == 403
    refused = client.post(
        "/exceptions/bulk", data={"action": "retry", "scope": "matching", "csrf": user_csrf}
    )
    assert refused.status_code == 403
    signed_out = client.post("/logout", data={"csrf": user_csrf}, follow_redirects=False)
    assert signed_out.status_code == 303 and client.get("/", follow_redirects=False).status_code == 303


def test_crosswalk_sync_now_from_the_console(
    client: TestClient, creds: Credentials, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    (tmp_path / "sites.csv").write_text("code,institution\nA,Site A\nB,Site B\n")
    body = {
        "source": {"csv": str(tmp_path / "sites.csv"), "key_column": "code", "value_column": "institution"}
    }
    assert client.put("/api/v1/config/crosswalks/sites", json=body, headers=creds.admin).status_code == 201
    csrf = _sign_in(client, "root", ROOT_PASSWORD)
    assert "sites" in client.get("/admin/crosswalks").text
    synced = client.post("/admin/crosswalks/sync", data={"name": "sites", "csrf": csrf})
    assert synced.status_code == 200 and "sites: 2 rows, changed" in synced.text
    (row,) = audit_rows(sessions, "crosswalk.synced")
    assert row.actor == "root"


def test_the_dashboard_shows_the_watermark_and_an_ingest_account_is_kept_out(
    settings: Settings, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    full = settings.model_copy(
        update={"disk_low_watermark_bytes": 1 << 60, "disk_high_watermark_bytes": 1 << 61}
    )
    with sessions() as session:
        create_user(
            session, UserCreate(username="modality", password=ROOT_PASSWORD, role=Role.INGEST), actor="test"
        )
        session.commit()
    with TestClient(create_app(full)) as client:
        _sign_in(client, "root", ROOT_PASSWORD)
        page = client.get("/")
        assert re.search(r'id="ingest-state">Ingest: <strong>paused</strong>', page.text)
    with TestClient(create_app(settings)) as client:
        form = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
        assert form is not None
        data = {"username": "modality", "password": ROOT_PASSWORD, "csrf": form.group(1)}
        assert client.post("/login", data=data, follow_redirects=False).status_code == 303
        assert client.get("/").status_code == 403
