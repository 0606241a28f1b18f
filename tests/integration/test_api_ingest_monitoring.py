"""The API over real sockets (uvicorn in ``axiom up``, embedded): dicomweb-client's STOW-RS and a
storescu send both reach a filesystem destination; the events WebSocket sees each instance's
events in order with one correlation id from listener to worker; /metrics counts them."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.factories import StudySpec, write_corpus
from tests.integration.stack import REDIS_URL, running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration


def _config(archive: Path) -> dict[str, Any]:
    return {
        "destinations": [
            {
                "name": "archive",
                "type": "filesystem",
                "root": str(archive),
                "path_template": "{SOPInstanceUID}.dcm",
            }
        ],
        "rulesets": [{"name": "main", "rules": [{"name": "everything", "destinations": ["archive"]}]}],
    }


def _metric(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("mode", ["embedded", "distributed"])
def test_stow_and_storescu_deliver_with_events_and_metrics(tmp_path: Path, mode: str) -> None:
    corpus = write_corpus(
        tmp_path / "corpus",
        studies=[StudySpec("CT", (4,))],
        transfer_syntaxes=[ExplicitVRLittleEndian],
        large_every=0,
    )
    by_stow, by_dimse = corpus.paths[:2], corpus.paths[2:]
    archive = tmp_path / "archive"
    # Distributed: events through Redis pub/sub (AXIOM_CACHE_URL), each role its own process.
    extra = {"AXIOM_CACHE_URL": REDIS_URL} if mode == "distributed" else {}
    with running_stack(mode, tmp_path / "axiom", extra) as stack:
        stack.apply(_config(archive))
        stack.start(*(("up",) if mode == "embedded" else ("listen", "worker", "api")))
        key = stack.api_key
        base = f"http://127.0.0.1:{stack.api_port}"
        events: list[dict[str, Any]] = []
        opened = threading.Event()

        def follow() -> None:
            url = f"ws://127.0.0.1:{stack.api_port}/api/v1/monitoring/events"
            with connect(url, open_timeout=10, additional_headers={"X-API-Key": key}) as ws:
                opened.set()
                while len(events) < 200:
                    try:
                        events.append(json.loads(ws.recv(timeout=60)))
                    except (TimeoutError, ConnectionClosed):
                        return

        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        assert opened.wait(20), stack.log_tail()
        wait_for(lambda: requests.get(f"{base}/ready", timeout=5).status_code == 200, 30, "ready")

        client = DICOMwebClient(url=f"{base}/api/v1/dicomweb", headers={"X-API-Key": key})
        answer = client.store_instances([dcmread(p) for p in by_stow])
        referenced = [item.ReferencedSOPInstanceUID for item in answer.ReferencedSOPSequence]
        assert referenced == [dcmread(p).SOPInstanceUID for p in by_stow]
        assert "FailedSOPSequence" not in answer

        storescu(by_dimse, "127.0.0.1", stack.dicom_port, "AXIOM")
        wanted = {f"{uid}.dcm" for uid in corpus.sop_instance_uids}
        wait_for(lambda: wanted <= {p.name for p in archive.glob("*.dcm")}, 120, "all four in the archive")

        def delivered() -> int:
            return sum(e["event"] == "instance.delivered" for e in events)

        wait_for(lambda: delivered() >= 4, 30, "four delivered events")
        for info in corpus:
            mine = [e for e in events if e.get("sop_instance_uid") == info.sop_instance_uid]
            kinds = [e["event"] for e in mine]
            assert kinds == ["instance.received", "instance.routed", "instance.delivered"], kinds
            # One correlation id from the listener (or STOW-RS) through the worker.
            assert len({e["correlation_id"] for e in mine}) == 1 and mine[0]["correlation_id"]
        sources = {e["source"] for e in events if e["event"] == "instance.received"}
        assert sources == {"stowrs", "listener"}

        scrape = requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=10).text
        received = "axiom_instances_received_total"
        assert _metric(scrape, received, source="stowrs", status="accepted") == 2
        assert _metric(scrape, received, source="listener", status="accepted") == 2
        assert _metric(scrape, "axiom_deliveries_total", destination="archive") == 4
        assert _metric(scrape, "axiom_instances_processed_total", status="delivered") == 4
        assert re.search(r"axiom_rule_evaluation_seconds_count\S* 4\.0", scrape)
        assert 'axiom_queue_depth{queue="default"}' in scrape

        # Search finds what was routed, by study and by source.
        study = next(iter(corpus.study_instance_uids))
        page = stack.api(f"/api/v1/monitoring/instances/search?study_instance_uid={study}&source=stowrs")
        assert page["total"] == 2 and {i["status"] for i in page["items"]} == {"delivered"}
        health = stack.api("/api/v1/monitoring/destinations")
        assert [(d["name"], d["backlog"]) for d in health] == [("archive", 0)]
        minutes = stack.api("/api/v1/monitoring/throughput?minutes=10")
        assert sum(m["received"] for m in minutes) == 4
        assert stack.api("/api/v1/monitoring/queues")["default"] == 0
        workers = stack.api("/api/v1/monitoring/workers")
        assert workers["mode"] == mode
        if mode == "distributed":
            assert len(workers["workers"]) == 1 and health[0]["circuit"] == "closed"
