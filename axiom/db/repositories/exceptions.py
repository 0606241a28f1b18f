"""Exception log: failures kept for retry (open), done with (resolved), or needing a person (dead).

Messages stored here must hold no PHI; callers pass UIDs, status codes and peer addresses only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.db.models import ExceptionLog, ExceptionStatus


def add_exception(
    session: Session,
    *,
    stage: str,
    error_class: str,
    message: str,
    sop_instance_uid: str,
    study_instance_uid: str | None,
    destination: str | None = None,
    file_path: str | None = None,
    instance_id: int | None = None,
    attempts: int = 1,
    next_retry_at: datetime | None = None,
) -> ExceptionLog:
    """Add an open exception row; flushed, so its ``id`` is set on return."""
    row = ExceptionLog(
        stage=stage,
        error_class=error_class,
        message=message,
        sop_instance_uid=sop_instance_uid,
        study_instance_uid=study_instance_uid,
        destination=destination,
        file_path=file_path,
        instance_id=instance_id,
        attempts=attempts,
        next_retry_at=next_retry_at,
        status=ExceptionStatus.OPEN,
    )
    session.add(row)
    session.flush()
    return row


def has_file(session: Session, sop_instance_uid: str, file_path: str) -> bool:
    """Whether a row of the instance already keeps ``file_path``: a rerun after a crash between its
    commit and the file's move finds it and does not record the instance twice."""
    stmt = (
        select(ExceptionLog.id)
        .where(ExceptionLog.sop_instance_uid == sop_instance_uid, ExceptionLog.file_path == file_path)
        .limit(1)
    )
    return session.scalar(stmt) is not None


def get_exception(session: Session, exception_id: int) -> ExceptionLog | None:
    return session.get(ExceptionLog, exception_id)


def _require(session: Session, exception_id: int) -> ExceptionLog:
    row = session.get(ExceptionLog, exception_id)
    if row is None:
        raise LookupError(f"no exception with id {exception_id}")
    return row


def record_attempt(
    session: Session,
    exception_id: int,
    *,
    error_class: str,
    message: str,
    next_retry_at: datetime | None,
) -> ExceptionLog:
    """Count one more failed attempt and schedule the next (None: no further retry scheduled)."""
    row = _require(session, exception_id)
    row.attempts += 1
    row.error_class = error_class
    row.message = message
    row.next_retry_at = next_retry_at
    return row


def postpone(session: Session, exception_id: int, next_retry_at: datetime) -> ExceptionLog:
    """Move the next retry without counting an attempt (the destination was not tried)."""
    row = _require(session, exception_id)
    row.next_retry_at = next_retry_at
    return row


def _close(session: Session, exception_id: int, status: ExceptionStatus) -> ExceptionLog:
    row = _require(session, exception_id)
    row.status = status
    row.next_retry_at = None  # nothing is scheduled for a closed row
    return row


def resolve_exception(session: Session, exception_id: int) -> ExceptionLog:
    return _close(session, exception_id, ExceptionStatus.RESOLVED)


def dead_letter(session: Session, exception_id: int) -> ExceptionLog:
    return _close(session, exception_id, ExceptionStatus.DEAD)


def discard_exception(session: Session, exception_id: int) -> ExceptionLog:
    return _close(session, exception_id, ExceptionStatus.DISCARDED)


def reopen_exception(session: Session, exception_id: int, *, next_retry_at: datetime) -> ExceptionLog:
    """Put a dead (or discarded) row back in the retry queue, e.g. after an admin fixed the cause."""
    row = _require(session, exception_id)
    row.status = ExceptionStatus.OPEN
    row.next_retry_at = next_retry_at
    return row


def list_exceptions(
    session: Session, *, status: ExceptionStatus | str | None = None, limit: int = 100
) -> list[ExceptionLog]:
    """Newest first, optionally of one status."""
    stmt = select(ExceptionLog).order_by(ExceptionLog.created_at.desc(), ExceptionLog.id.desc())
    if status is not None:
        stmt = stmt.where(ExceptionLog.status == ExceptionStatus(status))
    return list(session.scalars(stmt.limit(limit)))


def due_exceptions(session: Session, now: datetime, limit: int = 100) -> list[ExceptionLog]:
    """Open rows whose retry time has come, the longest-waiting first."""
    stmt = (
        select(ExceptionLog)
        .where(ExceptionLog.status == ExceptionStatus.OPEN, ExceptionLog.next_retry_at <= now)
        .order_by(ExceptionLog.next_retry_at, ExceptionLog.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))
