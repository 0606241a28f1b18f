"""The source plugins' pieces that need no peer: C-GET contexts, limits, backoff, and a poll that
cannot even start. Each kind against its peer: ``tests/contract/test_sources.py``."""

from __future__ import annotations

import time
from pathlib import Path

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.repositories import sources as sources_repo
from axiom.pipeline.poll import backoff_delay, poll_source
from axiom.sources.base import RateLimiter, accession_matches
from axiom.sources.dimse import _ENCODED, storage_contexts

GCP = {
    "name": "gcp",
    "type": "healthcare",
    "project": "proj",
    "location": "europe-west4",
    "dataset": "ds",
    "dicom_store": "store",
    "schedule": {"every_seconds": 60},
}


def test_c_get_offers_each_class_every_syntax_as_far_as_128_contexts_allow() -> None:
    one = storage_contexts(["1.2.3", "1.2.3"])
    assert one[0] == ("1.2.3", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assert [syntaxes for _, syntaxes in one[1:]] == [[uid] for uid in _ENCODED]
    many = storage_contexts([f"1.2.{n}" for n in range(200)])
    assert len(many) == 127 and all(len(syntaxes) == 2 for _, syntaxes in many)
    assert len(storage_contexts([f"1.2.{n}" for n in range(10)])) == 127


def test_rate_limiter_spaces_calls() -> None:
    limiter = RateLimiter(20)
    started = time.monotonic()
    for _ in range(5):
        limiter.wait()
    assert time.monotonic() - started >= 0.19
    RateLimiter(None).wait()  # no limit: returns at once


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, base=30, cap=200) for n in (1, 2, 3, 4)] == [30, 60, 120, 200]


def test_accession_wildcards() -> None:
    assert accession_matches("ACC*", "ACC123") and accession_matches("A?C1*", "ABC123")
    assert not accession_matches("ACC*", "XACC1") and accession_matches(None, "anything")


def _polls(source: str, status: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value("axiom_source_polls_total", {"source": source, "status": status})
    return value or 0.0


def test_a_poll_that_cannot_start_is_a_recorded_failure_and_backs_off(
    sessions: sessionmaker[Session], migrated_db_url: str, tmp_path: Path
) -> None:
    with sessions() as session:
        apply_config(session, parse_config({"sources": [{**GCP, "token_env": "NO_SUCH_VAR_X"}]}), actor="t")
        session.commit()
    settings = Settings(
        data_dir=tmp_path / "data", database_url=migrated_db_url, source_backoff_base_seconds=60
    )
    failed_before = _polls("gcp", "failed")
    outcome = poll_source(sessions, settings, publisher=None, name="gcp")  # type: ignore[arg-type]
    assert outcome.status == "failed" and "NO_SUCH_VAR_X holds no access token" in outcome.reason
    assert _polls("gcp", "failed") == failed_before + 1
    with sessions() as session:
        state = sources_repo.get_state(session, "gcp")
        assert state is not None and state.consecutive_failures == 1 and state.lock_token is None
    assert poll_source(sessions, settings, None, "gcp").reason.startswith("backing off")  # type: ignore[arg-type]
    assert poll_source(sessions, settings, None, "nope").reason == "no such source"  # type: ignore[arg-type]
