"""The distributed set-up's worker is visible to the Celery tools operators know.

`axiom flower` lists it through its HTTP API (Flower 2 serves that only with authentication configured
or ``FLOWER_UNAUTHENTICATED_API`` set; the test sets the latter, on loopback only, and passes the port
and address through ``axiom flower``'s extra arguments, as docs/deployment.md describes). And Celery's
own command line, pointed at ``workers.app`` (the app built from the same ``AXIOM_*`` settings), pings
it, counts it, purges a queue and captures its events; with no worker, `status` fails.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.integration.stack import AxiomStack, fresh_rabbitmq_vhost, running_stack, wait_for
from tests.support.dcmtk import free_port

pytestmark = pytest.mark.integration

pytest.importorskip("flower", reason="the flower extra is not installed")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AxiomStack, int]]:
    port = free_port()
    data = tmp_path_factory.mktemp("flower") / "axiom"
    with running_stack("distributed", data, {"FLOWER_UNAUTHENTICATED_API": "true"}) as stack:
        stack.axiom("db", "upgrade")
        stack.start(
            "worker",
            "flower",
            args={"flower": ["flower", f"--port={port}", "--address=127.0.0.1"]},
        )
        yield stack, port


def test_flower_lists_the_axiom_worker(stack: tuple[AxiomStack, int]) -> None:
    axiom, port = stack
    seen: list[str] = []

    def axiom_workers() -> dict[str, Any]:
        # refresh=1: Flower asks the workers now (its cache holds its first, possibly early, try).
        try:
            response = requests.get(f"http://127.0.0.1:{port}/api/workers?refresh=1", timeout=10)
        except requests.ConnectionError:
            return {}
        seen.append(f"{response.status_code} {response.text[:200]}")
        if response.status_code != 200:
            return {}
        workers: dict[str, Any] = response.json()
        return {name: info for name, info in workers.items() if name.startswith("axiom-worker-")}

    try:
        workers = wait_for(axiom_workers, 90, "Flower to list the Axiom worker", interval=1.0)
    except AssertionError:
        raise AssertionError(f"{seen[-3:]}\n{axiom.log_tail()}") from None
    assert len(workers) == 1, workers
    # The worker Flower knows consumes Axiom's queues.
    (details,) = workers.values()
    queues = {queue["name"] for queue in details.get("active_queues") or []}
    assert {"default", "high", "low", "retry"} <= queues, details


def celery(axiom: AxiomStack, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "celery", "-A", "workers.app", *args]
    return subprocess.run(command, env=axiom.env, capture_output=True, text=True, timeout=timeout)


def test_celery_tools_reach_the_worker_through_workers_app(stack: tuple[AxiomStack, int]) -> None:
    axiom, _ = stack

    def pong() -> str:
        result = celery(axiom, "inspect", "ping", "--timeout", "3")
        return result.stdout if result.returncode == 0 and "pong" in result.stdout else ""

    try:
        assert "axiom-worker-" in wait_for(pong, 60, "the worker to answer `inspect ping`", interval=1.0)
    except AssertionError:
        raise AssertionError(axiom.log_tail()) from None
    status = celery(axiom, "status", "--timeout", "3")
    assert status.returncode == 0 and "1 node online" in status.stdout, status.stdout + status.stderr
    purged = celery(axiom, "purge", "-f", "-Q", "low")
    assert purged.returncode == 0, purged.stderr
    assert "No messages purged from 1 queue" in purged.stdout or "Purged" in purged.stdout, purged.stdout
    # `events --dump` runs until stopped: it connects and prints the worker's heartbeats.
    with pytest.raises(subprocess.TimeoutExpired) as dump:
        celery(axiom, "events", "--dump", timeout=5)
    captured = dump.value.stdout
    text = captured.decode() if isinstance(captured, bytes) else captured or ""
    assert "evdump: starting capture" in text, text


def test_celery_status_fails_when_no_worker_answers(stack: tuple[AxiomStack, int]) -> None:
    axiom, _ = stack
    with fresh_rabbitmq_vhost() as empty:  # a broker with no worker on it
        env = {**axiom.env, "AXIOM_BROKER_URL": empty}
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "status", "--timeout", "1"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and "No nodes replied" in result.stdout + result.stderr, result
