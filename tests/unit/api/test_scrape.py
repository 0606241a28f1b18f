"""``/metrics`` carries the state an on-call alerts on, read at scrape time from its sources of truth:
the broker's queue folder, the spool, the exception rows, the breakers in Redis, the data volume."""

from __future__ import annotations

import os
import time
import uuid

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.models import ExceptionLog, ExceptionStatus
from axiom.db.repositories import config as config_repo
from axiom.infra.delivery_guard import RedisGuard
from tests.unit.api.conftest import Credentials

CONFIG = {
    "destinations": [
        {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 1, "ae_title": "PACS"},
        {"name": "archive", "type": "filesystem"},
    ]
}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_scrape_reports_queues_spool_exceptions_circuits_and_disk(
    settings: Settings, sessions: sessionmaker[Session], creds: Credentials, redis_url: str
) -> None:
    settings = settings.model_copy(update={"cache_url": redis_url})
    with sessions() as session:
        apply_config(session, parse_config(CONFIG), actor="test")
        for status in (ExceptionStatus.DEAD, ExceptionStatus.DEAD, ExceptionStatus.OPEN):
            session.add(
                ExceptionLog(
                    stage="deliver", destination="pacs", error_class="AssociationRejected", message="no",
                    sop_instance_uid=f"1.2.3.{uuid.uuid4().int % 10**9}", status=status,
                )
            )  # fmt: skip
        session.commit()
        pacs = config_repo.load_destination_configs(session)["pacs"]
    guard = RedisGuard(redis_url)
    for _ in range(5):  # the default breaker opens after 5 consecutive failures
        guard.failed(pacs)
    guard.close()
    settings.ensure_dirs()
    settings.spool_dir.mkdir(parents=True, exist_ok=True)
    for n in range(3):
        (settings.spool_dir / f"{n}.dcm").write_bytes(b"x")
    os.utime(settings.spool_dir / "0.dcm", (time.time() - 600, time.time() - 600))
    queue = settings.broker_dir / "queue"
    queue.mkdir(parents=True, exist_ok=True)
    (queue / f"{round(time.monotonic() * 1000) - 90_000}_{uuid.uuid4()}.default.msg").write_bytes(b"{}")
    (queue / f"{round(time.monotonic() * 1000)}_{uuid.uuid4()}.default.msg").write_bytes(b"{}")

    from api.main import create_app

    with TestClient(create_app(settings)) as client:
        response = client.get("/metrics", headers={"Authorization": f"Bearer {creds.keys['reader']}"})
    assert response.status_code == 200
    got = samples(response.text)
    assert got[("axiom_queue_depth", (("queue", "default"),))] == 2
    assert got[("axiom_queue_depth", (("queue", "high"),))] == 0
    assert 89 <= got[("axiom_queue_oldest_message_age_seconds", (("queue", "default"),))] < 120
    assert got[("axiom_queue_oldest_message_age_seconds", (("queue", "retry"),))] == 0
    assert got[("axiom_spool_files", ())] == 3
    assert 599 <= got[("axiom_spool_oldest_file_age_seconds", ())] < 700
    assert got[("axiom_destination_exceptions", (("destination", "pacs"), ("status", "dead")))] == 2
    assert got[("axiom_destination_exceptions", (("destination", "pacs"), ("status", "open")))] == 1
    assert got[("axiom_destination_exceptions", (("destination", "archive"), ("status", "dead")))] == 0
    assert got[("axiom_destination_circuit_state", (("destination", "pacs"), ("state", "open")))] == 1
    assert got[("axiom_destination_circuit_state", (("destination", "pacs"), ("state", "closed")))] == 0
    assert got[("axiom_destination_circuit_state", (("destination", "archive"), ("state", "closed")))] == 1
    assert got[("axiom_disk_free_bytes", ())] > 0
