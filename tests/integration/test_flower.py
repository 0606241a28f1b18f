"""`axiom flower` on the distributed set-up sees the Axiom workers: its HTTP API lists them.

Flower 2 serves its HTTP API only with authentication configured or ``FLOWER_UNAUTHENTICATED_API``
set; the test sets the latter (on loopback only) and passes the port and address through
``axiom flower``'s extra arguments, as docs/deployment.md describes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.stack import running_stack, wait_for
from tests.support.dcmtk import free_port

pytestmark = pytest.mark.integration

pytest.importorskip("flower", reason="the flower extra is not installed")


def test_flower_lists_the_axiom_worker(tmp_path: Path) -> None:
    port = free_port()
    with running_stack("distributed", tmp_path / "axiom", {"FLOWER_UNAUTHENTICATED_API": "true"}) as stack:
        stack.axiom("db", "upgrade")
        stack.start(
            "worker",
            "flower",
            args={"flower": ["flower", f"--port={port}", "--address=127.0.0.1"]},
        )

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
            raise AssertionError(f"{seen[-3:]}\n{stack.log_tail()}") from None
        assert len(workers) == 1, workers
        # The worker Flower knows consumes Axiom's queues.
        (details,) = workers.values()
        queues = {queue["name"] for queue in details.get("active_queues") or []}
        assert {"default", "high", "low", "retry"} <= queues, details
