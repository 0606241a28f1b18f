"""Failed attempts to route one arrival, keyed by its spooled file."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import RouteAttempt


def failed_attempts(session: Session, spool_path: str) -> int:
    count = session.scalar(select(RouteAttempt.attempts).where(RouteAttempt.spool_path == spool_path))
    return int(count or 0)


def count_failure(session: Session, spool_path: str, error_class: str) -> int:
    """One more failed attempt (one statement, safe against races); the count after it."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(RouteAttempt).values(
        spool_path=spool_path, attempts=1, error_class=error_class[:128], updated_at=utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["spool_path"],
        set_={
            "attempts": RouteAttempt.attempts + 1,
            "error_class": stmt.excluded.error_class,
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(RouteAttempt.attempts)
    return int(session.execute(stmt).scalar_one())


def clear(session: Session, spool_path: str) -> None:
    session.execute(delete(RouteAttempt).where(RouteAttempt.spool_path == spool_path))
