"""The real API app on a real database (SQLite and PostgreSQL), with a credential per role made
through the same services the CLI and the API use."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from api.main import create_app
from axiom.admin.accounts import create_api_key, create_user
from axiom.config import Settings
from axiom.db.models import AuditLog
from axiom.domain.auth import ApiKeyCreate, Role, UserCreate
from tests.unit.db.databases import empty_db_url, engine, migrated_db_url, session, sessions

__all__ = ["empty_db_url", "engine", "migrated_db_url", "session", "sessions"]

ROOT_PASSWORD = "root-password-1"


@dataclass
class Credentials:
    """Headers for each role: ``user`` and ``admin`` are API keys, ``superuser`` a user's JWT."""

    user: dict[str, str]
    admin: dict[str, str]
    superuser: dict[str, str]
    keys: dict[str, str]  # every API key made here, by name (to check none leaks)

    def __getitem__(self, role: str) -> dict[str, str]:
        headers: dict[str, str] = getattr(self, role)
        return headers


@pytest.fixture
def settings(engine: Engine, migrated_db_url: str, tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=migrated_db_url, login_max_failures=3)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def creds(client: TestClient, sessions: sessionmaker[Session]) -> Credentials:
    with sessions() as session:
        create_user(
            session, UserCreate(username="root", password=ROOT_PASSWORD, role=Role.SUPERUSER), actor="test"
        )
        keys = {
            name: create_api_key(
                session, ApiKeyCreate(name=name, role=role), actor="test", creator_role=Role.SUPERUSER
            ).key
            for name, role in (("reader", Role.USER), ("deployer", Role.ADMIN))
        }
        session.commit()
    token = client.post("/api/v1/auth/login", json={"username": "root", "password": ROOT_PASSWORD})
    assert token.status_code == 200, token.text
    return Credentials(
        user={"X-API-Key": keys["reader"]},
        admin={"X-API-Key": keys["deployer"]},
        superuser={"Authorization": f"Bearer {token.json()['access_token']}"},
        keys=keys,
    )


def audit_rows(sessions: sessionmaker[Session], action: str | None = None) -> list[AuditLog]:
    with sessions() as session:
        stmt = select(AuditLog).order_by(AuditLog.id)
        if action is not None:
            stmt = stmt.where(AuditLog.action == action)
        return list(session.scalars(stmt))


def audit_text(sessions: sessionmaker[Session]) -> str:
    """Every audit row as text, to check that no password or key ever lands there."""
    return "\n".join(
        f"{row.actor} {row.action} {row.target} {row.details} {row.correlation_id}"
        for row in audit_rows(sessions)
    )
