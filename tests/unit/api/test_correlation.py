"""Each API request has a correlation id: echoed in the response and written to its audit rows."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.unit.api.conftest import Credentials, audit_rows

ARCHIVE = {"type": "filesystem", "description": "long-term"}


def test_config_change_audit_row_carries_the_requests_correlation_id(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    headers = {**creds.admin, "X-Correlation-ID": "change-42"}
    response = client.put("/api/v1/config/destinations/archive", json=ARCHIVE, headers=headers)
    assert response.status_code == 201
    assert response.headers["x-correlation-id"] == "change-42"
    rows = [r for r in audit_rows(sessions) if r.target and "archive" in r.target]
    assert rows and all(r.correlation_id == "change-42" for r in rows)


def test_a_missing_or_odd_correlation_id_is_replaced(client: TestClient) -> None:
    made = client.get("/health").headers["x-correlation-id"]
    assert len(made) == 16
    odd = client.get("/health", headers={"X-Correlation-ID": "no spaces <allowed>"})
    assert odd.headers["x-correlation-id"] != "no spaces <allowed>"
