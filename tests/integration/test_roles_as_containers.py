"""The roles as a container platform runs them: the listener and a solo-pool worker (which counts and
logs in its main process) each PID 1 of a PID namespace of its own (``unshare --pid --fork``), the API
beside them, all sharing the data volume as compose's services do, all with ``AXIOM_LOG_JSON=true``.

- Metrics: every role writes its multiprocess files in a folder of its own
  (``metrics/<role>-<hostname>``), so two PID 1s no longer write one ``counter_1.db``; the API's
  ``/metrics`` shows what each counted.
- One log format: every line a role writes is a JSON object, whoever logged it: Axiom (structlog),
  alembic (migrations at start-up), Celery (the worker and its tasks), uvicorn (a malformed request);
  Celery's record of the instance's task carries the correlation id the listener gave the instance.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.factories import Corpus
from tests.integration.stack import AxiomStack, pid_namespaces_work, port_open, running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration

SKIP = pytest.mark.skipif(
    not pid_namespaces_work(), reason="unprivileged PID namespaces are not available here"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, corpus_small: Corpus) -> Iterator[AxiomStack]:
    isolated = pid_namespaces_work()
    base = tmp_path_factory.mktemp("containers")
    archive = base / "archive"
    # One listener process: the PID 1 that counts (more would share its folder under other PIDs).
    env = {"AXIOM_LOG_JSON": "true", "AXIOM_LISTENER_PROCESSES": "1"}
    with running_stack("embedded", base / "axiom", env) as stack:
        stack.apply(
            {
                "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
                "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
            }
        )
        worker = ["worker", "--pool", "solo", "--concurrency", "1"]
        if isolated:
            stack.start_as_pid_1("listen", "listen")
            stack.start_as_pid_1("worker", *worker)
        else:  # the log format is checked all the same
            stack.start("listen", "worker", args={"worker": worker})
        stack.start("api")
        wait_for(lambda: port_open(stack.dicom_port), 60, "the listener")
        storescu([i.path for i in corpus_small.instances[:2]], "127.0.0.1", stack.dicom_port, "AXIOM")
        wait_for(lambda: len(list(archive.rglob("*.dcm"))) == 2, 60, "both instances in the archive")
        yield stack
        if isolated:
            for role in ("listen", "worker"):
                stack.kill(role)  # the namespaces go with their PID 1


def metric(text: str, name: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


@SKIP
def test_two_roles_as_pid_1_are_both_counted(stack: AxiomStack) -> None:
    folders = {p.parent.name.split("-")[0] for p in (stack.data_dir / "metrics").glob("*/counter_1.db")}
    assert {"listen", "worker"} <= folders, list((stack.data_dir / "metrics").rglob("*.db"))

    def delivered_counted() -> str:
        response = requests.get(
            f"http://127.0.0.1:{stack.api_port}/metrics",
            headers={"Authorization": f"Bearer {stack.api_key}"},
            timeout=10,
        )
        response.raise_for_status()
        text = response.text
        return text if metric(text, 'axiom_instances_processed_total{status="delivered"}') == 2 else ""

    text = wait_for(delivered_counted, 20, "the worker's count in /metrics")
    assert metric(text, "axiom_instances_received_total{") == 2  # the listener's, PID 1 as well


def records(log: Path) -> list[dict[str, Any]]:
    parsed = []
    for line in filter(str.strip, log.read_text().splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"{log.name}: not a JSON line: {line!r}") from None
        assert isinstance(record, dict) and {"event", "level", "timestamp"} <= record.keys(), line
        parsed.append(record)
    return parsed


def test_every_role_logs_json_lines_with_the_correlation_id(stack: AxiomStack) -> None:
    with socket.create_connection(("127.0.0.1", stack.api_port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        sock.recv(1024)
    events = (stack.data_dir / "events" / "events.jsonl").read_text().splitlines()
    received = {json.loads(e)["correlation_id"] for e in events if '"instance.received"' in e}

    def task_records() -> list[dict[str, Any]]:
        worker = records(stack.logs / "worker.log")
        return [r for r in worker if r.get("logger") == "celery.app.trace" and "succeeded" in r["event"]]

    def carried() -> set[str]:  # one task per instance, or one batch task for both
        return {
            i for r in task_records() for i in [r.get("correlation_id"), *r.get("correlation_ids", [])] if i
        }

    assert wait_for(lambda: carried() == received, 30, "Celery's task records with the correlation ids")
    assert len(received) == 2
    api = wait_for(
        lambda: [r for r in records(stack.logs / "api.log") if r.get("logger") == "uvicorn.error"],
        10,
        "uvicorn's warning",
    )
    assert "Invalid HTTP" in api[0]["event"]
    every = [
        *records(stack.logs / "listen.log"),
        *records(stack.logs / "worker.log"),
        *records(stack.logs / "api.log"),
    ]
    assert any(r.get("logger", "").startswith("alembic") for r in every)
    assert any(r.get("logger", "").startswith("celery.worker") for r in every)
