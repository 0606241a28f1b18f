"""What an admin does with the exception log: list it, retry a row now, or discard it.

A row with a destination is a failed delivery: retry sends its own copy again (``retry_delivery``).
A row without one held the whole instance in quarantine (no rule matched, a rule quarantined it, a
tag edit failed): retry routes it again through the current rules, as if it had just arrived.
Discard is the only way a held copy leaves without being delivered, and it says so in the row.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.db.models import ExceptionLog, ExceptionStatus
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import exceptions as exception_repo
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.retry import retry_delivery
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime

# Rows an admin may act on: open ones can be hurried, dead ones need a person.
ACTIONABLE = (ExceptionStatus.OPEN, ExceptionStatus.DEAD)


class NotActionable(ValueError):
    pass


@dataclass(frozen=True)
class ExceptionFilter:
    status: str | None = None
    destination: str | None = None
    stage: str | None = None
    limit: int = 100
    offset: int = 0


def list_exceptions(session: Session, query: ExceptionFilter) -> list[ExceptionLog]:
    """Newest first; each filter field narrows the list when set."""
    stmt = select(ExceptionLog).order_by(ExceptionLog.created_at.desc(), ExceptionLog.id.desc())
    if query.status:
        stmt = stmt.where(ExceptionLog.status == ExceptionStatus(query.status))
    if query.destination:
        stmt = stmt.where(ExceptionLog.destination == query.destination)
    if query.stage:
        stmt = stmt.where(ExceptionLog.stage == query.stage)
    return list(session.scalars(stmt.offset(query.offset).limit(query.limit)))


def _actionable(session: Session, exception_id: int) -> ExceptionLog:
    row = exception_repo.get_exception(session, exception_id)
    if row is None:
        raise LookupError(f"no exception with id {exception_id}")
    if row.status not in ACTIONABLE:
        raise NotActionable(
            f"exception {exception_id} is {row.status.value}; only open or dead rows can be acted on"
        )
    if not row.file_path or not Path(row.file_path).exists():
        raise NotActionable(f"exception {exception_id} has no held copy to act on")
    return row


def _audit(session: Session, actor: str, action: str, row: ExceptionLog) -> None:
    audit_repo.add_audit(
        session,
        actor=actor,
        action=action,
        target=f"exception:{row.id}",
        details={
            "sop_instance_uid": row.sop_instance_uid,
            "destination": row.destination,
            "stage": row.stage,
        },
    )


def retry_now(runtime: Runtime, exception_id: int, *, actor: str) -> str:
    """Retry one row at once, in this process; returns what happened (delivered, retry, dead,
    routed: <status>)."""
    with runtime.sessions() as session:
        row = _actionable(session, exception_id)
        destination, held = row.destination, Path(row.file_path or "")
        if destination:
            exception_repo.reopen_exception(session, exception_id, next_retry_at=datetime.now(UTC))
        _audit(session, actor, "exception.retried", row)
        session.commit()
    if destination:
        return retry_delivery(runtime, exception_id).state
    # Back into the spool, then routed like a new arrival; a new failure writes a new row.
    spooled = runtime.settings.spool_dir / f"retry-{exception_id}-{held.name}"
    os.replace(held, spooled)
    outcome = route_instance(runtime, message_for_spooled_file(spooled, source="retry"))
    with runtime.sessions() as session:
        exception_repo.resolve_exception(session, exception_id)
        session.commit()
    return f"routed: {outcome.status if outcome is not None else 'already processed'}"


def discard(runtime: Runtime, exception_id: int, *, actor: str) -> None:
    """Give up on a row: mark it discarded, then delete its held copy."""
    with runtime.sessions() as session:
        row = _actionable(session, exception_id)
        held = Path(row.file_path or "")
        exception_repo.discard_exception(session, exception_id)
        _audit(session, actor, "exception.discarded", row)
        session.commit()
    with contextlib.suppress(FileNotFoundError):
        held.unlink()
