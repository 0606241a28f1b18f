"""One log format: with ``AXIOM_LOG_JSON=true`` every line a role writes is a JSON object, whoever
logged it: Axiom (structlog), alembic (migrations at start-up), Celery (the worker and its tasks),
uvicorn (a malformed request). Celery's record of a routed instance's task carries the correlation id
the listener gave that instance.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Corpus
from tests.integration.stack import running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration


def records(log: Path) -> list[dict[str, Any]]:
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{log.name}: not a JSON line: {line!r}") from None
        assert isinstance(record, dict) and {"event", "level", "timestamp"} <= record.keys(), line
        parsed.append(record)
    return parsed


def test_every_role_logs_json_lines_with_the_correlation_id(tmp_path: Path, corpus_small: Corpus) -> None:
    archive = tmp_path / "archive"
    with running_stack("embedded", tmp_path / "axiom", {"AXIOM_LOG_JSON": "true"}) as stack:
        stack.apply(
            {
                "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
                "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
            }
        )
        stack.start("listen", "worker", "api")
        info = corpus_small.instances[0]
        storescu([info.path], "127.0.0.1", stack.dicom_port, "AXIOM")
        wait_for(lambda: list(archive.rglob("*.dcm")), 60, "the instance in the archive")
        with socket.create_connection(("127.0.0.1", stack.api_port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            sock.recv(1024)
        events = (stack.data_dir / "events" / "events.jsonl").read_text().splitlines()
        received = [json.loads(e) for e in events if '"instance.received"' in e]
        correlation_id = received[0]["correlation_id"]

        def task_record() -> list[dict[str, Any]]:
            worker = records(stack.logs / "worker.log")
            return [r for r in worker if r.get("logger") == "celery.app.trace" and "succeeded" in r["event"]]

        done = wait_for(task_record, 30, "Celery's task record")
        assert done[0].get("correlation_id") == correlation_id, done
        api = records(stack.logs / "api.log")
        assert any(r.get("logger") == "uvicorn.error" and "Invalid HTTP" in r["event"] for r in api), api
        every = [*records(stack.logs / "listen.log"), *records(stack.logs / "worker.log"), *api]
        assert any(r.get("logger", "").startswith("alembic") for r in every)
        assert any(r.get("logger", "").startswith("celery.worker") for r in every)
