"""upsert_instance and friends against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.models import DicomInstance, DicomSeries, DicomStudy
from axiom.db.repositories.instances import (
    count_by_status,
    recent_instances,
    set_instance_status,
    upsert_instance,
)
from axiom.domain.instances import InstanceStatus
from tests.unit.db.receipts import SERIES, STUDY, receipt


def counts(session: Session) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    studies = session.execute(
        select(DicomStudy.study_instance_uid, DicomStudy.instance_count).order_by(DicomStudy.id)
    ).all()
    series = session.execute(
        select(DicomSeries.series_instance_uid, DicomSeries.instance_count).order_by(DicomSeries.id)
    ).all()
    instances = session.scalar(select(func.count()).select_from(DicomInstance))
    return [tuple(r) for r in studies], [tuple(r) for r in series], int(instances or 0)  # type: ignore[misc]


def test_first_receipt_creates_study_series_and_instance(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        instance = upsert_instance(session, **receipt(STUDY + ".1.1"))
        session.commit()
        instance_id = instance.id

    with sessions() as session:
        row = session.get(DicomInstance, instance_id)
        assert row is not None
        assert row.sop_instance_uid == STUDY + ".1.1"
        assert row.status is InstanceStatus.RECEIVED
        assert row.received_count == 1
        assert row.size_bytes == 1024
        assert row.received_at.tzinfo is not None
        study = session.scalars(select(DicomStudy)).one()
        assert (study.patient_id_hash, study.study_date) == ("a" * 64, "20240102")
        series = session.scalars(select(DicomSeries)).one()
        assert (series.study_id, series.modality) == (study.id, "CT")
        assert row.series_id == series.id
        assert counts(session) == ([(STUDY, 1)], [(SERIES, 1)], 1)


def test_counts_follow_new_instances_and_ignore_re_receipts(sessions: sessionmaker[Session]) -> None:
    other_series = STUDY + ".2"
    with sessions() as session:
        first = upsert_instance(session, **receipt(STUDY + ".1.1"))
        upsert_instance(session, **receipt(STUDY + ".1.2"))
        upsert_instance(session, **receipt(STUDY + ".2.1", series=other_series, modality="SR"))
        session.commit()
        first_id = first.id

    with sessions() as session:
        again = upsert_instance(
            session,
            **receipt(STUDY + ".1.1", spool_path="/spool/again.dcm", status=InstanceStatus.PROCESSING),
        )
        session.commit()
        # The returned object carries the database's values, not stale ones.
        assert again.id == first_id
        assert again.received_count == 2
        assert again.spool_path == "/spool/again.dcm"

    with sessions() as session:
        assert counts(session) == ([(STUDY, 3)], [(SERIES, 2), (other_series, 1)], 3)
        row = session.get(DicomInstance, first_id)
        assert row is not None
        assert (row.received_count, row.status) == (2, InstanceStatus.PROCESSING)


def test_re_receipt_reopens_a_processed_instance(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        instance = upsert_instance(session, **receipt("1.9.1"))
        set_instance_status(session, instance.id, InstanceStatus.FAILED, error="peer refused: 0xA700")
        session.commit()
    with sessions() as session:
        again = upsert_instance(session, **receipt("1.9.1"))
        session.commit()
        assert (again.status, again.processed_at, again.error) == (InstanceStatus.RECEIVED, None, None)


def test_set_instance_status_records_the_outcome(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        instance = upsert_instance(session, **receipt("1.9.2"))
        set_instance_status(session, instance.id, InstanceStatus.PROCESSING)
        session.commit()
        instance_id = instance.id
    with sessions() as session:
        row = session.get(DicomInstance, instance_id)
        assert row is not None
        assert (row.status, row.processed_at) == (InstanceStatus.PROCESSING, None)

        set_instance_status(
            session,
            instance_id,
            InstanceStatus.PARTIAL,
            matched_rules=["clinical/ct-to-pacs"],
            destinations=["pacs", "archive"],
        )
        session.commit()
    with sessions() as session:
        row = session.get(DicomInstance, instance_id)
        assert row is not None
        assert row.status is InstanceStatus.PARTIAL
        assert row.matched_rules == ["clinical/ct-to-pacs"]
        assert row.destinations == ["pacs", "archive"]
        assert row.processed_at is not None and row.processed_at <= datetime.now(UTC)

        with pytest.raises(LookupError):
            set_instance_status(session, instance_id + 1000, InstanceStatus.DELIVERED)


def test_recent_instances_and_count_by_status(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        ids = [upsert_instance(session, **receipt(f"1.9.3.{n}")).id for n in range(5)]
        set_instance_status(session, ids[0], InstanceStatus.DELIVERED)
        set_instance_status(session, ids[1], InstanceStatus.DELIVERED)
        set_instance_status(session, ids[2], InstanceStatus.NO_MATCH)
        session.commit()
    with sessions() as session:
        recent = recent_instances(session, limit=3)
        assert [r.sop_instance_uid for r in recent] == ["1.9.3.4", "1.9.3.3", "1.9.3.2"]
        assert count_by_status(session) == {"delivered": 2, "no_match": 1, "received": 2}


def test_many_workers_receiving_one_new_study_at_once(sessions: sessionmaker[Session]) -> None:
    # Every thread receives the same five new instances of one new study, all starting together:
    # one study, one series, five instances, each received once per thread.
    workers, sops = 4, [f"1.9.4.{n}" for n in range(5)]
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            barrier.wait(timeout=30)
            for sop in sops:
                with sessions() as session:
                    upsert_instance(session, **receipt(sop))
                    session.commit()
        except BaseException as exc:  # reported in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    with sessions() as session:
        assert counts(session) == ([(STUDY, 5)], [(SERIES, 5)], 5)
        received = session.scalars(select(DicomInstance.received_count)).all()
        assert sorted(received) == [workers] * len(sops)


def test_a_worker_losing_the_race_for_a_new_study_uses_the_winners_row(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    # Worker A has inserted the new study but not committed when worker B receives an instance of
    # it. PostgreSQL makes B's insert wait on the unique index and then fail; B must take A's row.
    # SQLite makes B wait for A's whole transaction, after which B simply finds the rows.
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(str(args[2])))
    hold_seconds = 0.5
    outcome: dict[str, Any] = {}

    def worker_b() -> None:
        started = time.monotonic()
        try:
            with sessions() as session:
                upsert_instance(session, **receipt("1.9.5.2"))
                session.commit()
        except BaseException as exc:  # reported in the test's thread
            outcome["error"] = exc
        outcome["seconds"] = time.monotonic() - started

    with sessions() as session_a:
        upsert_instance(session_a, **receipt("1.9.5.1"))
        statements.clear()
        thread = threading.Thread(target=worker_b)
        thread.start()
        if engine.dialect.name == "postgresql":
            _wait_for_lock_wait(engine)
        else:
            time.sleep(hold_seconds)
        session_a.commit()
    thread.join(timeout=60)

    assert "error" not in outcome, outcome.get("error")
    with sessions() as session:
        assert counts(session) == ([(STUDY, 2)], [(SERIES, 2)], 2)
    if engine.dialect.name == "postgresql":
        assert any(s.startswith("ROLLBACK TO SAVEPOINT") for s in statements), statements
    else:
        assert outcome["seconds"] >= hold_seconds * 0.9


def _wait_for_lock_wait(engine: Engine) -> None:
    """Return once another session of this database waits on a lock (worker B on A's study)."""
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.02)
    raise AssertionError("worker B never waited for worker A's uncommitted study")
