"""The distributed set-up's worker is visible to the Celery tools operators know.

`axiom flower` lists it through its HTTP API (Flower 2 serves that only with authentication configured
or ``FLOWER_UNAUTHENTICATED_API`` set; the test sets the latter, on loopback only, and passes the port
and address through ``axiom flower``'s extra arguments, as docs/deployment.md describes). And Celery's
own command line, pointed at ``workers.app`` (the app built from the same ``AXIOM_*`` settings), pings
it, counts it, purges a queue and captures its events; the chart's liveness probe (Celery's ping to
the pod's own worker, PID 1 of its container) passes for it and fails for another pod's name.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.stack import (
    AxiomStack,
    pid_namespaces_work,
    running_stack,
    wait_for,
)
from tests.support.dcmtk import free_port

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("flower", reason="the flower extra is not installed")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AxiomStack, int]]:
    port = free_port()
    data = tmp_path_factory.mktemp("flower") / "axiom"
    with running_stack("distributed", data, {"FLOWER_UNAUTHENTICATED_API": "true"}) as stack:
        stack.axiom("db", "upgrade")
        stack.start("flower", args={"flower": ["flower", f"--port={port}", "--address=127.0.0.1"]})
        # The worker as in its container: PID 1 (the chart's probe relies on it), where this machine allows.
        if pid_namespaces_work():
            stack.start_as_pid_1("worker", "worker", "--concurrency", "1")
        else:
            stack.start("worker")
        yield stack, port
        stack.kill("worker")


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


@pytest.mark.skipif(not pid_namespaces_work(), reason="unprivileged PID namespaces are not available here")
def test_the_charts_worker_probe_pings_its_own_worker(stack: tuple[AxiomStack, int]) -> None:
    """The liveness probe of the chart and the compose file, run as they run it: in the worker's
    container, where the worker is PID 1 and $HOSTNAME is the container's host name."""
    axiom, _ = stack
    helpers = (ROOT / "deploy" / "helm" / "axiom" / "templates" / "_helpers.tpl").read_text()
    match = re.search(r"- '(exec celery -A workers\.app inspect ping [^']+)'", helpers)
    assert match and "--timeout 10" in match[1]
    wait_for(lambda: "axiom-worker-1@" in (axiom.logs / "worker.log").read_text(), 60, "the PID 1 worker")

    def probe(hostname: str, command: str = match[1]) -> int:
        # The image has its virtual environment's bin on PATH; so does this one here.
        path = f"{Path(sys.executable).parent}{os.pathsep}{axiom.env.get('PATH', '')}"
        env = {**axiom.env, "HOSTNAME": hostname, "PATH": path}
        return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30).returncode

    assert wait_for(lambda: probe(socket.gethostname()) == 0, 60, "the probe to pass", interval=1.0)
    # It asks this pod's worker, not any worker: another pod's name gets no answer.
    assert probe("some-other-pod", match[1].replace("--timeout 10", "--timeout 1")) != 0
