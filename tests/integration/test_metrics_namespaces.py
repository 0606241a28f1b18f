"""Prometheus values of roles that are each PID 1 of their own container are all counted.

Every role writes its multiprocess files in a folder of its own (``metrics/<role>-<hostname>``), so
two containers' PID 1 no longer write the same ``counter_1.db``. Here the listener and a solo-pool
worker (which counts in its main process) each run as PID 1 of a PID namespace of their own
(``unshare --pid --fork``), sharing the data volume as compose's services do; the API's ``/metrics``
shows what each of them counted.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.factories import Corpus
from tests.integration.stack import pid_namespaces_work, port_open, running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration


def metric(text: str, name: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name)]
    return sum(values)


@pytest.mark.skipif(not pid_namespaces_work(), reason="unprivileged PID namespaces are not available here")
def test_two_roles_as_pid_1_are_both_counted(tmp_path: Path, corpus_small: Corpus) -> None:
    archive = tmp_path / "archive"
    with running_stack("embedded", tmp_path / "axiom") as stack:
        stack.apply(
            {
                "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
                "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
            }
        )
        stack.start_as_pid_1("listen", "listen")
        stack.start_as_pid_1("worker", "worker", "--pool", "solo", "--concurrency", "1")
        stack.start("api")
        wait_for(lambda: port_open(stack.dicom_port), 60, "the listener")
        storescu([p.path for p in corpus_small.instances[:2]], "127.0.0.1", stack.dicom_port, "AXIOM")
        wait_for(lambda: len(list(archive.rglob("*.dcm"))) == 2, 60, "both instances in the archive")

        folders = {p.parent.name.split("-")[0] for p in (stack.data_dir / "metrics").glob("*/counter_1.db")}
        assert {"listen", "worker"} <= folders, list((stack.data_dir / "metrics").rglob("*.db"))

        def scraped() -> str:
            response = requests.get(
                f"http://127.0.0.1:{stack.api_port}/metrics",
                headers={"Authorization": f"Bearer {stack.api_key}"},
                timeout=10,
            )
            response.raise_for_status()
            return response.text

        def delivered_counted() -> str:
            text = scraped()
            return text if metric(text, 'axiom_instances_processed_total{status="delivered"}') == 2 else ""

        text = wait_for(delivered_counted, 20, "the worker's count in /metrics")
        assert metric(text, "axiom_instances_received_total{") == 2  # the listener's, PID 1 as well
        for role in ("listen", "worker"):
            stack.kill(role)  # the namespaces go with their PID 1
