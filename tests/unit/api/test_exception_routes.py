"""/api/v1/exceptions through the real app: list with filters and paging, retry and discard by an
admin, each audited; real instances routed into the exception log first."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from axiom.config import Settings
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict
from tests.unit.api.conftest import Credentials, audit_rows
from tests.unit.pipeline.test_route import _spool_dataset

ARCHIVE = {"name": "archive", "type": "filesystem"}


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    settings.ensure_dirs()
    rt = Runtime(settings)
    yield rt
    rt.close()


def _held(runtime: Runtime, tmp_path: Path, count: int) -> None:
    """``count`` instances no rule routes: each becomes a NoMatchingRule row with its copy."""
    apply_dict(runtime, {"destinations": [ARCHIVE], "rulesets": []}, tmp_path)
    for i in range(count):
        spooled = _spool_dataset(runtime, make_dataset(), tmp_path / f"{i}.dcm")
        route_instance(runtime, message_for_spooled_file(spooled))


def test_list_filters_and_pages(
    client: TestClient, creds: Credentials, runtime: Runtime, tmp_path: Path
) -> None:
    _held(runtime, tmp_path, 3)
    assert client.get("/api/v1/exceptions").status_code == 401
    rows = client.get("/api/v1/exceptions", headers=creds.user).json()
    assert len(rows) == 3 and {r["error_class"] for r in rows} == {"NoMatchingRule"}
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    page = client.get("/api/v1/exceptions?limit=2&offset=2", headers=creds.user).json()
    assert [r["id"] for r in page] == [rows[2]["id"]]
    assert client.get("/api/v1/exceptions?stage=deliver", headers=creds.user).json() == []
    assert client.get("/api/v1/exceptions?status=nonsense", headers=creds.user).status_code == 422


def test_admin_retries_and_discards_with_an_audit_trail(
    client: TestClient, creds: Credentials, runtime: Runtime, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    _held(runtime, tmp_path, 2)
    first, second = (r["id"] for r in client.get("/api/v1/exceptions", headers=creds.user).json())
    assert client.post(f"/api/v1/exceptions/{first}/retry", headers=creds.user).status_code == 403

    apply_dict(
        runtime,
        {
            "destinations": [ARCHIVE],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        },
        tmp_path,
    )
    response = client.post(f"/api/v1/exceptions/{first}/retry", headers=creds.admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"id": first, "outcome": "routed: delivered"}
    assert len(list((runtime.settings.destinations_root / "archive").rglob("*.dcm"))) == 1
    assert client.post(f"/api/v1/exceptions/{first}/retry", headers=creds.admin).status_code == 409

    assert (
        client.post(f"/api/v1/exceptions/{second}/discard", headers=creds.admin).json()["outcome"]
        == "discarded"
    )
    statuses = {r["id"]: r["status"] for r in client.get("/api/v1/exceptions", headers=creds.user).json()}
    assert statuses == {first: "resolved", second: "discarded"}
    assert client.post("/api/v1/exceptions/99999/discard", headers=creds.admin).status_code == 404

    audited = [
        (r.action, r.actor, r.target) for r in audit_rows(sessions) if r.action.startswith("exception.")
    ]
    assert audited == [
        ("exception.retried", "api-key:deployer", f"exception:{first}"),
        ("exception.discarded", "api-key:deployer", f"exception:{second}"),
    ]
