"""/api/v1/config/sources (read: any role, write: admins) and /api/v1/monitoring/sources."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.base import utcnow
from axiom.db.models import AuditLog, SourceState
from axiom.db.repositories import sources as sources_repo
from tests.unit.api.conftest import Credentials

BASE = "/api/v1/config/sources"
WEB = {
    "type": "dicomweb",
    "url": "http://127.0.0.1:8042/dicom-web",
    "schedule": {"every_seconds": 60},
    "query": {"modalities": ["CT"]},
}


def test_sources_crud_roles_audit_and_schedule_marker(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    assert client.put(f"{BASE}/web", json=WEB, headers=creds.user).status_code == 403
    assert client.put(f"{BASE}/web", json=WEB).status_code == 401

    created = client.put(f"{BASE}/web", json=WEB, headers=creds.admin)
    assert created.status_code == 201 and created.json()["result"] == "created"
    same = client.put(f"{BASE}/web", json=WEB, headers=creds.admin)
    assert same.status_code == 200 and same.json()["result"] == "unchanged"

    listed = client.get(BASE, headers=creds.user).json()
    assert [item["name"] for item in listed] == ["web"]
    assert listed[0]["query"]["modalities"] == ["CT"]
    assert client.get(f"{BASE}/web", headers=creds.user).json()["url"] == WEB["url"]

    bad = client.put(f"{BASE}/web", json={**WEB, "schedule": {"cron": "nope"}}, headers=creds.admin)
    assert bad.status_code == 422 and "schedule.cron" in bad.text

    assert client.delete(f"{BASE}/web", headers=creds.user).status_code == 403
    deleted = client.delete(f"{BASE}/web", headers=creds.admin)
    assert deleted.status_code == 200 and deleted.json()["result"] == "deleted"
    assert client.get(f"{BASE}/web", headers=creds.user).status_code == 404

    with sessions() as session:
        actions = session.scalars(select(AuditLog.action).where(AuditLog.action.like("source.%"))).all()
        assert sorted(actions) == ["source.created", "source.deleted"]
        assert sources_repo.schedule_version(session) == 2  # created, deleted; not the unchanged PUT


def test_monitoring_lists_each_source_with_its_last_outcome(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    client.put(f"{BASE}/web", json=WEB, headers=creds.admin)
    client.put(f"{BASE}/other", json={**WEB, "enabled": False}, headers=creds.admin)
    failed_at = utcnow()
    with sessions() as session:
        session.add(
            SourceState(
                name="web",
                last_poll_at=failed_at,
                last_status="failed",
                last_error="QIDO-RS studies at http://127.0.0.1:8042/dicom-web: ConnectionError",
                last_found=0,
                last_retrieved=0,
                last_failed=0,
                total_retrieved=12,
                consecutive_failures=2,
                next_poll_after=failed_at + timedelta(seconds=60),
            )
        )
        session.commit()

    assert client.get("/api/v1/monitoring/sources").status_code == 401
    body = {
        item["name"]: item for item in client.get("/api/v1/monitoring/sources", headers=creds.user).json()
    }
    assert body["web"]["last_status"] == "failed"
    assert "ConnectionError" in body["web"]["last_error"]
    assert body["web"]["consecutive_failures"] == 2 and body["web"]["total_retrieved"] == 12
    assert body["web"]["next_poll_after"] is not None and body["web"]["polling"] is False
    assert body["other"] == {
        **body["other"],
        "enabled": False,
        "last_status": None,
        "last_poll_at": None,
        "retrieved": 0,
    }


def test_monitoring_schedule_shows_periodic_tasks_and_sources(client: TestClient, creds: Credentials) -> None:
    client.put(f"{BASE}/web", json=WEB, headers=creds.admin)
    client.put(f"{BASE}/nightly", json={**WEB, "schedule": {"cron": "0 2 * * *"}}, headers=creds.admin)
    client.put(f"{BASE}/off", json={**WEB, "enabled": False}, headers=creds.admin)
    entries = {e["name"]: e for e in client.get("/api/v1/monitoring/schedule", headers=creds.user).json()}
    assert {"retry-sweep", "recover-spool", "crosswalk-sync", "completion-check", "header-cleanup"} <= set(
        entries
    )
    assert entries["source:web"] == {
        "name": "source:web",
        "task": "axiom.poll_source",
        "every_seconds": 60.0,
        "cron": None,
    }
    assert entries["source:nightly"]["cron"] == "0 2 * * *"
    assert "source:off" not in entries
