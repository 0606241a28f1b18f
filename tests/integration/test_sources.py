"""Sources against a real Orthanc on loopback (DICOMweb plugin, DIMSE Q/R), driving the poll service.

Each retrieved instance goes through the real ingest path (spool + publish) into the worker's real
routing service (published inline, as one worker would run it) and lands in a filesystem destination
through the normal rules: every instance arrives exactly once, a study that grows is pulled again for
its new instances only, and a peer that is down gives a recorded failure, backoff and a later catch-up.
What each source kind does alone against its peer (queries, filters, retrieval into the ingest sink,
refusals) is the source contract's: ``tests/contract/test_sources.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from io import BytesIO
from pathlib import Path
from threading import Thread
from typing import Any

import pytest
from pydicom import dcmwrite
from pydicom.uid import generate_uid

from axiom.db.base import utcnow
from axiom.db.repositories import sources as sources_repo
from axiom.dicom.spool import Spool
from axiom.domain.messages import InstanceMessage
from axiom.infra.events import RECEIVED, events_file
from axiom.pipeline.ingest import RefusalLog
from axiom.pipeline.listener import StoreHandler, make_listener
from axiom.pipeline.move_origin import MoveSources
from axiom.pipeline.poll import PollOutcome, poll_source, source_status
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.dcmtk import free_port
from tests.support.orthanc import Orthanc, dicomweb_plugin, orthanc_available
from tests.support.routing import apply_dict, fresh_runtime
from tests.support.services import require

pytestmark = pytest.mark.integration


class InlinePublisher:
    """Runs the worker's routing service for each published message, one at a time."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.messages: list[InstanceMessage] = []
        self._lock = threading.Lock()

    def publish_instance(self, message: InstanceMessage) -> None:
        with self._lock:
            self.messages.append(message)
            route_instance(self.runtime, message)

    def arrivals(self) -> Counter[str]:
        return Counter(m.sop_instance_uid for m in self.messages)


def _config(archive: Path, source: dict[str, Any], *, only_source: str | None) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": "pulled", "destinations": ["archive"]}
    if only_source:
        # The ingest context names the source: rules can route by it.
        rule["when"] = {"context": "source", "equals": only_source}
    return {
        "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
        "rulesets": [{"name": "sources", "rules": [rule]}],
        "sources": [source],
    }


def _archived(archive: Path) -> set[str]:
    return {path.stem for path in archive.rglob("*.dcm")}


def _load_study(
    orthanc: Orthanc,
    count: int,
    *,
    study_uid: str | None = None,
    modality: str = "CT",
    when: datetime | None = None,
) -> list[str]:
    """Upload ``count`` new instances of one study (a new study unless ``study_uid``); their UIDs."""
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    uids = []
    for number in range(count):
        ds = make_dataset(
            modality=modality,
            study_uid=study_uid,
            series_uid=series_uid,
            sop_instance_uid=generate_uid(),
            instance_number=number + 1,
            accession="ACC" + study_uid[-6:],
            study_datetime=when,
        )
        # The peer counts the study's instances itself (the factory writes its own count in).
        for keyword in ("NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances"):
            if keyword in ds:
                delattr(ds, keyword)
        buffer = BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        orthanc.upload(buffer.getvalue())
        uids.append(str(ds.SOPInstanceUID))
    return uids


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(
        tmp_path / "data", source_backoff_base_seconds=0.2, source_backoff_max_seconds=0.5
    ) as rt:
        yield rt


def _poll(runtime: Runtime, publisher: InlinePublisher, name: str) -> PollOutcome:
    return poll_source(runtime.sessions, runtime.settings, publisher, name)


def _received_events(runtime: Runtime, source: str) -> int:
    lines = events_file(runtime.settings).read_text().splitlines()
    return sum(1 for e in map(json.loads, lines) if e["event"] == RECEIVED and e.get("source") == source)


def _require_orthanc(dicomweb: bool) -> None:
    require("Orthanc", orthanc_available(), "/usr/sbin/Orthanc is not installed")
    if dicomweb:
        require(
            "orthanc-dicomweb", dicomweb_plugin() is not None, "the orthanc-dicomweb plugin is not installed"
        )


# ---------------------------------------------------------------- DICOMweb


@pytest.fixture
def web_orthanc(tmp_path: Path) -> Iterator[Orthanc]:
    _require_orthanc(dicomweb=True)
    with Orthanc(tmp_path / "orthanc") as server:
        yield server


def _web_source(orthanc: Orthanc, **extra: Any) -> dict[str, Any]:
    return {
        "name": "web-pacs",
        "type": "dicomweb",
        "url": orthanc.dicomweb_url,
        "schedule": {"every_seconds": 1},
        "query": {"study_date_window_days": None},
        "max_concurrency": 2,
        **extra,
    }


def test_dicomweb_pulls_every_instance_once_then_only_new_ones(
    runtime: Runtime, web_orthanc: Orthanc, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    apply_dict(runtime, _config(archive, _web_source(web_orthanc), only_source="web-pacs"), tmp_path)
    first = _load_study(web_orthanc, 3)
    second = _load_study(web_orthanc, 2, modality="MR")
    publisher = InlinePublisher(runtime)

    outcome = _poll(runtime, publisher, "web-pacs")
    assert (outcome.status, outcome.studies, outcome.found, outcome.retrieved, outcome.failed) == (
        "ok",
        2,
        5,
        5,
        0,
    )
    assert publisher.arrivals() == Counter(first + second)
    assert all(m.source == "web-pacs" for m in publisher.messages)
    assert _archived(archive) == set(first + second)
    assert _received_events(runtime, "web-pacs") == 5  # live events, as for a C-STORE

    # Nothing new: nothing pulled (the studies' counts match the ledger, no instance listing needed).
    again = _poll(runtime, publisher, "web-pacs")
    assert (again.status, again.found, again.retrieved) == ("ok", 0, 0)
    assert len(publisher.messages) == 5

    # The first study grows: only its new instances are pulled.
    study_uid = web_orthanc.instance_tags(first[0])["StudyInstanceUID"]
    added = _load_study(web_orthanc, 2, study_uid=study_uid)
    grown = _poll(runtime, publisher, "web-pacs")
    assert (grown.status, grown.found, grown.retrieved) == ("ok", 2, 2)
    assert publisher.arrivals() == Counter(first + second + added)  # each exactly once
    assert _archived(archive) == set(first + second + added)

    with runtime.sessions() as session:
        [status] = source_status(session)
        assert status["last_status"] == "ok" and status["total_retrieved"] == 7
        assert status["last_success_at"] is not None and status["watermark"] is not None
        assert status["polling"] is False


def test_study_date_window_counts_back_from_the_watermark(
    runtime: Runtime, web_orthanc: Orthanc, tmp_path: Path
) -> None:
    old = _load_study(web_orthanc, 1, when=datetime(2024, 3, 14, 9, 0))
    today = _load_study(web_orthanc, 1, when=datetime.now())
    source = _web_source(web_orthanc, query={"study_date_window_days": 1})
    apply_dict(runtime, _config(tmp_path / "archive", source, only_source=None), tmp_path)
    publisher = InlinePublisher(runtime)
    assert _poll(runtime, publisher, "web-pacs").retrieved == 1
    assert set(publisher.arrivals()) == set(today)

    # A watermark far back (a source down since then) widens the next poll to the days it missed.
    with runtime.sessions() as session:
        state = sources_repo.get_state(session, "web-pacs")
        assert state is not None and state.watermark is not None
        state.watermark = datetime(2024, 3, 14, 12, 0, tzinfo=utcnow().tzinfo)
        session.commit()
    assert _poll(runtime, publisher, "web-pacs").retrieved == 1
    assert set(publisher.arrivals()) == set(old + today)


def test_peer_down_is_a_recorded_failure_with_backoff_then_a_catch_up(
    runtime: Runtime, web_orthanc: Orthanc, tmp_path: Path
) -> None:
    archive = tmp_path / "archive"
    apply_dict(runtime, _config(archive, _web_source(web_orthanc), only_source="web-pacs"), tmp_path)
    loaded = _load_study(web_orthanc, 2)
    publisher = InlinePublisher(runtime)

    web_orthanc.stop()
    failed = _poll(runtime, publisher, "web-pacs")
    assert failed.status == "failed" and "QIDO-RS studies" in failed.reason
    with runtime.sessions() as session:
        state = sources_repo.get_state(session, "web-pacs")
        assert state is not None
        assert state.last_status == "failed" and state.consecutive_failures == 1
        assert state.last_error and "QIDO-RS" in state.last_error
        assert state.next_poll_after is not None and state.next_poll_after > utcnow()
        assert state.watermark is None and state.lock_token is None  # the lease was given back

    # While it backs off, ticks are skipped without touching the peer.
    assert _poll(runtime, publisher, "web-pacs").status == "skipped"

    web_orthanc.start()
    time.sleep(0.6)  # past the (shortened) backoff
    caught_up = _poll(runtime, publisher, "web-pacs")
    assert (caught_up.status, caught_up.retrieved) == ("ok", 2)
    assert publisher.arrivals() == Counter(loaded)
    assert _archived(archive) == set(loaded)
    with runtime.sessions() as session:
        state = sources_repo.get_state(session, "web-pacs")
        assert state is not None and state.consecutive_failures == 0 and state.last_error is None


def test_a_held_lease_skips_the_poll_until_it_expires(runtime: Runtime, tmp_path: Path) -> None:
    source = {
        "name": "web-pacs",
        "type": "dicomweb",
        "url": "http://127.0.0.1:9/dicom-web",
        "schedule": {"every_seconds": 1},
    }
    apply_dict(runtime, {"sources": [source]}, tmp_path)
    with runtime.sessions() as session:
        token = sources_repo.claim_lease(session, "web-pacs", now=utcnow(), lease_seconds=60)
        # A second claimer (another worker, another tick) gets nothing while it is held.
        assert token and sources_repo.claim_lease(session, "web-pacs", now=utcnow(), lease_seconds=60) is None
        session.commit()
    skipped = _poll(runtime, InlinePublisher(runtime), "web-pacs")
    assert (skipped.status, skipped.reason) == ("skipped", "another poll holds the lease")
    # A holder that died frees the source once its lease ran out.
    later = utcnow() + timedelta(seconds=61)
    with runtime.sessions() as session:
        assert sources_repo.claim_lease(session, "web-pacs", now=later, lease_seconds=60) is not None


# ---------------------------------------------------------------- DIMSE


@contextmanager
def _listener(runtime: Runtime, publisher: InlinePublisher) -> Iterator[int]:
    """Axiom's own C-STORE SCP (the C-MOVE destination), publishing into the same routing."""
    runtime.settings.dicom_host = "127.0.0.1"
    runtime.settings.dicom_port = free_port()
    settings = runtime.settings
    handler = StoreHandler(
        Spool(settings.spool_dir, settings.quarantine_dir, fsync=False),
        publisher,
        RefusalLog(runtime.sessions),
        move_sources=MoveSources(runtime.sessions, refresh_seconds=0),
    )
    server = make_listener(settings, handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield settings.dicom_port
    finally:
        server.shutdown()
        server.server_close()


def _dimse_source(orthanc: Orthanc, retrieve: str) -> dict[str, Any]:
    return {
        "name": "dimse-pacs",
        "type": "dimse",
        "host": "127.0.0.1",
        "port": orthanc.dicom_port,
        "ae_title": orthanc.ae_title,
        "calling_ae_title": "AXIOM",
        "retrieve": retrieve,
        "schedule": {"every_seconds": 1},
        "query": {"study_date_window_days": None},
    }


@pytest.mark.parametrize("retrieve", ["move", "get"])
def test_dimse_pulls_each_instance_once_and_a_grown_study_only_for_the_new(
    runtime: Runtime, tmp_path: Path, retrieve: str
) -> None:
    _require_orthanc(dicomweb=False)
    archive = tmp_path / "archive"
    publisher = InlinePublisher(runtime)
    with _listener(runtime, publisher) as port:
        # Orthanc must know Axiom's AE to send a C-MOVE to it.
        overrides = {"DicomModalities": {"axiom": ["AXIOM", "127.0.0.1", port]}}
        with Orthanc(tmp_path / "orthanc", dicomweb=False, config_overrides=overrides) as pacs:
            # Both carry the source's name: C-GET arrivals on the poll's association, C-MOVE ones
            # through the listener, which knows them by the Move Originator AE Orthanc sends.
            source = _dimse_source(pacs, retrieve)
            apply_dict(runtime, _config(archive, source, only_source="dimse-pacs"), tmp_path)
            first = _load_study(pacs, 3)
            second = _load_study(pacs, 1)

            outcome = _poll(runtime, publisher, "dimse-pacs")
            assert (outcome.status, outcome.found, outcome.retrieved, outcome.failed) == ("ok", 4, 4, 0), (
                outcome
            )
            assert publisher.arrivals() == Counter(first + second)
            assert _archived(archive) == set(first + second)
            assert {m.source for m in publisher.messages} == {"dimse-pacs"}
            if retrieve == "get":  # C-GET arrivals come in through the poll's own ingestor
                assert _received_events(runtime, "dimse-pacs") == 4

            assert _poll(runtime, publisher, "dimse-pacs").found == 0
            study_uid = pacs.instance_tags(first[0])["StudyInstanceUID"]
            added = _load_study(pacs, 2, study_uid=study_uid)
            grown = _poll(runtime, publisher, "dimse-pacs")
            assert (grown.status, grown.found, grown.retrieved) == ("ok", 2, 2), grown
            assert publisher.arrivals() == Counter(first + second + added)
            assert _archived(archive) == set(first + second + added)
