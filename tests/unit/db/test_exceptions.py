"""The exception log's life: open, retried, resolved or dead-lettered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.models import DicomInstance, ExceptionStatus
from axiom.db.repositories.exceptions import (
    add_exception,
    dead_letter,
    discard_exception,
    due_exceptions,
    get_exception,
    list_exceptions,
    record_attempt,
    reopen_exception,
    resolve_exception,
)
from axiom.db.repositories.instances import upsert_instance
from tests.unit.db.receipts import receipt

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _add(session: Session, sop: str, *, retry_in: float | None = 10, **kwargs: object) -> int:
    row = add_exception(
        session,
        stage="deliver",
        error_class="DeliveryError",
        message="association rejected by 127.0.0.1:4242 (0x0001)",
        sop_instance_uid=sop,
        study_instance_uid="1.2.3",
        destination="pacs",
        file_path=f"/exceptions/{sop}.dcm",
        next_retry_at=NOW + timedelta(seconds=retry_in) if retry_in is not None else None,
        **kwargs,  # type: ignore[arg-type]
    )
    return row.id


def test_lifecycle_from_failure_to_resolution(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        exception_id = _add(session, "1.1")
        session.commit()

    with sessions() as session:
        row = get_exception(session, exception_id)
        assert row is not None
        assert (row.status, row.attempts, row.destination) == (ExceptionStatus.OPEN, 1, "pacs")
        assert row.next_retry_at == NOW + timedelta(seconds=10)
        assert due_exceptions(session, NOW) == []
        assert [r.id for r in due_exceptions(session, NOW + timedelta(seconds=10))] == [exception_id]

        record_attempt(
            session,
            exception_id,
            error_class="TimeoutError",
            message="no answer from 127.0.0.1:4242",
            next_retry_at=NOW + timedelta(seconds=60),
        )
        session.commit()

    with sessions() as session:
        row = get_exception(session, exception_id)
        assert row is not None
        assert (row.attempts, row.error_class, row.status) == (2, "TimeoutError", ExceptionStatus.OPEN)
        assert due_exceptions(session, NOW + timedelta(seconds=59)) == []
        resolve_exception(session, exception_id)
        session.commit()

    with sessions() as session:
        row = get_exception(session, exception_id)
        assert row is not None
        assert (row.status, row.next_retry_at) == (ExceptionStatus.RESOLVED, None)
        assert due_exceptions(session, NOW + timedelta(days=1)) == []
        assert row.updated_at >= row.created_at


def test_dead_letter_discard_and_reopen(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        dead_id = _add(session, "2.1")
        discarded_id = _add(session, "2.2")
        dead_letter(session, dead_id)
        discard_exception(session, discarded_id)
        session.commit()

    with sessions() as session:
        assert [r.id for r in list_exceptions(session, status=ExceptionStatus.DEAD)] == [dead_id]
        assert [r.id for r in list_exceptions(session, status="discarded")] == [discarded_id]
        assert due_exceptions(session, NOW + timedelta(days=1)) == []

        reopen_exception(session, dead_id, next_retry_at=NOW)
        session.commit()
    with sessions() as session:
        assert [r.id for r in due_exceptions(session, NOW)] == [dead_id]


def test_due_exceptions_oldest_first_and_limited(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        late = _add(session, "3.1", retry_in=30)
        early = _add(session, "3.2", retry_in=5)
        _add(session, "3.3", retry_in=None)  # nothing scheduled: never due
        middle = _add(session, "3.4", retry_in=20)
        session.commit()
    with sessions() as session:
        later = NOW + timedelta(hours=1)
        assert [r.id for r in due_exceptions(session, later)] == [early, middle, late]
        assert [r.id for r in due_exceptions(session, later, limit=2)] == [early, middle]
        assert [r.id for r in list_exceptions(session, limit=2)] == [middle, _id_of(session, "3.3")]


def _id_of(session: Session, sop: str) -> int:
    return next(r.id for r in list_exceptions(session) if r.sop_instance_uid == sop)


def test_missing_rows_raise_lookup_error(session: Session) -> None:
    assert get_exception(session, 999) is None
    with pytest.raises(LookupError):
        resolve_exception(session, 999)
    with pytest.raises(LookupError):
        record_attempt(session, 999, error_class="X", message="y", next_retry_at=None)


def test_exception_outlives_its_instance_row(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        instance = upsert_instance(session, **receipt("4.1"))
        exception_id = _add(session, "4.1", instance_id=instance.id)
        session.commit()
    with sessions() as session:
        session.execute(delete(DicomInstance))
        session.commit()
    with sessions() as session:
        row = get_exception(session, exception_id)
        assert row is not None
        assert (row.instance_id, row.sop_instance_uid) == (None, "4.1")
