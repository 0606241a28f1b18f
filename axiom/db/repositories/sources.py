"""Sources as stored: their configuration rows, poll state (lease, watermark, outcome, backoff), the
instances each one pulled, and the one-row "schedule changed" marker Beat watches."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import SCHEDULE_STATE_ID, PulledInstance, ScheduleState, SourceRow, SourceState
from axiom.db.repositories.config import typed_row_data, typed_row_values
from axiom.domain.sources import SourceConfig
from axiom.plugins import validation_context

SOURCE_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


# ---------------------------------------------------------------- configuration


def source_from_row(row: SourceRow) -> SourceConfig:
    return SOURCE_ADAPTER.validate_python(typed_row_data(row), context=validation_context())


def source_row_values(config: SourceConfig) -> dict[str, Any]:
    return typed_row_values(config)


def get_source_row(session: Session, name: str) -> SourceRow | None:
    return session.scalars(select(SourceRow).where(SourceRow.name == name)).one_or_none()


def get_source_rows(session: Session, names: Iterable[str] | None = None) -> dict[str, SourceRow]:
    stmt = select(SourceRow).order_by(SourceRow.name)
    if names is not None:
        stmt = stmt.where(SourceRow.name.in_(list(names)))
    return {row.name: row for row in session.scalars(stmt)}


def load_source_configs(session: Session, *, enabled_only: bool = False) -> dict[str, SourceConfig]:
    return {
        name: source_from_row(row)
        for name, row in get_source_rows(session).items()
        if row.enabled or not enabled_only
    }


def schedule_version(session: Session) -> int:
    version = session.scalar(select(ScheduleState.version).where(ScheduleState.id == SCHEDULE_STATE_ID))
    return int(version or 0)


def bump_schedule_version(session: Session) -> int:
    """Move the "schedule changed" marker on (Beat then reloads); returns the new version."""
    version = session.execute(
        update(ScheduleState)
        .where(ScheduleState.id == SCHEDULE_STATE_ID)
        .values(version=ScheduleState.version + 1, updated_at=utcnow())
        .returning(ScheduleState.version)
    ).scalar_one_or_none()
    if version is None:
        session.add(ScheduleState(id=SCHEDULE_STATE_ID, version=1))
        session.flush()
        return 1
    return int(version)


# ---------------------------------------------------------------- poll state


def get_state(session: Session, name: str) -> SourceState | None:
    return session.get(SourceState, name)


def get_states(session: Session) -> dict[str, SourceState]:
    return {row.name: row for row in session.scalars(select(SourceState))}


def ensure_state(session: Session, name: str) -> None:
    """Create the state row if missing (racing creators are fine: the loser's insert is ignored)."""
    values = {
        "name": name,
        "last_found": 0,
        "last_retrieved": 0,
        "last_failed": 0,
        "total_retrieved": 0,
        "consecutive_failures": 0,
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(SourceState).values(**values).on_conflict_do_nothing(index_elements=["name"]))


def claim_lease(session: Session, name: str, *, now: datetime, lease_seconds: float) -> str | None:
    """Take the source's lease when nobody holds it (or the holder's expired); returns its token.

    One conditional UPDATE, atomic on every backend: of two pollers, exactly one gets the row."""
    ensure_state(session, name)
    token = uuid.uuid4().hex
    claimed = session.execute(
        update(SourceState)
        .where(SourceState.name == name)
        .where((SourceState.locked_until.is_(None)) | (SourceState.locked_until < now))
        .values(lock_token=token, locked_until=now + timedelta(seconds=lease_seconds))
    )
    return token if claimed.rowcount == 1 else None  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, token: str) -> None:
    session.execute(
        update(SourceState)
        .where(SourceState.name == name, SourceState.lock_token == token)
        .values(lock_token=None, locked_until=None)
    )


# ---------------------------------------------------------------- pulled instances


def pulled_counts(session: Session, source: str, study_uids: Iterable[str]) -> dict[str, int]:
    uids = list(study_uids)
    if not uids:
        return {}
    rows = session.execute(
        select(PulledInstance.study_instance_uid, func.count())
        .where(PulledInstance.source == source, PulledInstance.study_instance_uid.in_(uids))
        .group_by(PulledInstance.study_instance_uid)
    )
    return {uid: int(count) for uid, count in rows}


def pulled_sops(session: Session, source: str, study_uid: str) -> set[str]:
    return set(
        session.scalars(
            select(PulledInstance.sop_instance_uid).where(
                PulledInstance.source == source, PulledInstance.study_instance_uid == study_uid
            )
        )
    )


def add_pulled(session: Session, source: str, study_uid: str, sop_uids: Iterable[str]) -> None:
    rows = [
        {"source": source, "study_instance_uid": study_uid, "sop_instance_uid": uid, "pulled_at": utcnow()}
        for uid in sop_uids
    ]
    if not rows:
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(PulledInstance).values(rows).on_conflict_do_nothing())


__all__ = [
    "SOURCE_ADAPTER",
    "add_pulled",
    "bump_schedule_version",
    "claim_lease",
    "ensure_state",
    "get_source_row",
    "get_source_rows",
    "get_state",
    "get_states",
    "load_source_configs",
    "pulled_counts",
    "pulled_sops",
    "release_lease",
    "schedule_version",
    "source_from_row",
    "source_row_values",
]
