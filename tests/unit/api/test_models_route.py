"""GET /api/v1/monitoring/models: the provider each model runs on and its results by outcome."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories.inference import save_result
from tests.unit.api.conftest import Credentials

URL = "/api/v1/monitoring/models"


def test_models_report_provider_and_outcomes(
    client: TestClient, creds: Credentials, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        for index, (status, ms) in enumerate([("ok", 10.0), ("ok", 20.0), ("skipped", 1.0)]):
            save_result(
                session,
                sop_instance_uid=f"1.2.3.{index}",
                content_hash="h",
                model="chest",
                model_version="2",
                status=status,
                label="normal" if status == "ok" else "",
                scores={},
                provider="CUDAExecutionProvider",
                duration_ms=ms,
            )
        session.commit()
    assert client.get(URL).status_code == 401
    body = client.get(URL, headers=creds.user).json()
    assert body["providers"] == {"chest:2": "CUDAExecutionProvider"}
    assert body["stats"] == [
        {"model": "chest", "version": "2", "status": "ok", "results": 2, "mean_duration_ms": 15.0},
        {"model": "chest", "version": "2", "status": "skipped", "results": 1, "mean_duration_ms": 1.0},
    ]


def test_ready_names_the_provider_of_each_models_latest_run(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        # Version 2 first ran on the CPU fallback, then on the GPU: its latest run counts.
        for index, (version, provider) in enumerate(
            [("2", "CPUExecutionProvider"), ("1", "CPUExecutionProvider"), ("2", "CUDAExecutionProvider")]
        ):
            save_result(
                session,
                sop_instance_uid=f"1.2.4.{index}",
                content_hash="h",
                model="chest",
                model_version=version,
                status="ok",
                label="normal",
                scores={},
                provider=provider,
                duration_ms=5.0,
            )
        session.commit()
    body = client.get("/ready").json()  # no credential: probes call it
    assert body["models"] == {"chest:1": "CPUExecutionProvider", "chest:2": "CUDAExecutionProvider"}
