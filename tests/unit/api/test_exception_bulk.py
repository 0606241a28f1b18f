"""POST /api/v1/exceptions/bulk through the real app: many rows retried by filter or discarded by id,
each row audited and the bulk action once more; users are refused."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from axiom.pipeline.runtime import Runtime
from tests.support.routing import apply_dict
from tests.unit.api.conftest import Credentials, audit_rows
from tests.unit.api.test_exception_routes import ARCHIVE, _held, runtime

__all__ = ["runtime"]


def test_bulk_retry_by_filter_and_discard_by_id(
    client: TestClient, creds: Credentials, runtime: Runtime, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    _held(runtime, tmp_path, 4)
    ids = sorted(r["id"] for r in client.get("/api/v1/exceptions", headers=creds.user).json())
    body = {"action": "retry", "filter": {"stage": "route"}}
    assert client.post("/api/v1/exceptions/bulk", json=body, headers=creds.user).status_code == 403
    assert (
        client.post("/api/v1/exceptions/bulk", json={"action": "retry"}, headers=creds.admin).status_code
        == 422
    )

    discarded = client.post(
        "/api/v1/exceptions/bulk", json={"action": "discard", "ids": [ids[0], 999_999]}, headers=creds.admin
    )
    assert discarded.status_code == 200, discarded.text
    assert discarded.json()["outcomes"] == {"discarded": 1, "not actionable": 1}
    assert "999999" in discarded.json()["errors"]

    routes = {"name": "m", "rules": [{"name": "all", "destinations": ["archive"]}]}
    apply_dict(runtime, {"destinations": [ARCHIVE], "rulesets": [routes]}, tmp_path)
    retried = client.post(
        "/api/v1/exceptions/bulk", json={"action": "retry", "filter": {"status": "open"}}, headers=creds.admin
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["requested"] == 3 and retried.json()["outcomes"] == {"routed": 3}
    assert len(list((runtime.settings.destinations_root / "archive").rglob("*.dcm"))) == 3

    assert len(audit_rows(sessions, "exception.retried")) == 3
    assert len(audit_rows(sessions, "exception.discarded")) == 1
    (bulk,) = audit_rows(sessions, "exception.bulk_retry")
    assert bulk.actor == "api-key:deployer" and bulk.details == {
        "selection": {"filter": {"status": "open"}},
        "outcomes": {"routed": 3},
    }
