"""Crosswalks: their configuration rows, their entries, and the generation lookups cache by."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from axiom.db.models import CrosswalkEntry, CrosswalkRow
from axiom.domain.crosswalks import CrosswalkConfig

# Rows per INSERT statement: well under SQLite's and PostgreSQL's bound-parameter limits.
_INSERT_BATCH = 2000


def crosswalk_config_values(row: CrosswalkRow) -> dict[str, Any]:
    """The row's configuration in the file format (the canonical JSON ``dump_model`` gives)."""
    return {"name": row.name, "source": row.source, "sync_seconds": row.sync_seconds}


def crosswalk_from_row(row: CrosswalkRow) -> CrosswalkConfig:
    return CrosswalkConfig.model_validate(crosswalk_config_values(row))


def _config_columns(config: CrosswalkConfig) -> dict[str, Any]:
    data = config.model_dump(mode="json", exclude_none=True)
    return {"source": data["source"], "sync_seconds": data["sync_seconds"]}


def add_crosswalk(session: Session, config: CrosswalkConfig) -> CrosswalkRow:
    row = CrosswalkRow(name=config.name, generation=0, row_count=0, **_config_columns(config))
    session.add(row)
    return row


def update_crosswalk(row: CrosswalkRow, config: CrosswalkConfig) -> None:
    """New source or interval; the entries stay until the next sync replaces them."""
    for key, value in _config_columns(config).items():
        setattr(row, key, value)
    row.last_attempt_at = None  # due at once: the next sync reads the new source


def get_crosswalk_rows(session: Session, names: Iterable[str] | None = None) -> dict[str, CrosswalkRow]:
    """Crosswalk rows by name: those in ``names``, or all of them."""
    stmt = select(CrosswalkRow).order_by(CrosswalkRow.name)
    if names is not None:
        stmt = stmt.where(CrosswalkRow.name.in_(list(names)))
    return {row.name: row for row in session.scalars(stmt)}


def lock_crosswalk(session: Session, name: str) -> CrosswalkRow | None:
    """The row, locked until commit on PostgreSQL, so two syncs of one table run one after the other."""
    return session.scalars(
        select(CrosswalkRow).where(CrosswalkRow.name == name).with_for_update()
    ).one_or_none()


def entries(session: Session, crosswalk_id: int) -> dict[str, str]:
    rows = session.execute(
        select(CrosswalkEntry.key, CrosswalkEntry.value).where(CrosswalkEntry.crosswalk_id == crosswalk_id)
    )
    return {key: value for key, value in rows}


def replace_entries(session: Session, row: CrosswalkRow, new: Mapping[str, str], *, now: datetime) -> None:
    """Swap the table's entries for ``new`` and move its generation; the caller's transaction makes
    the swap atomic (readers see all old or all new entries)."""
    session.execute(delete(CrosswalkEntry).where(CrosswalkEntry.crosswalk_id == row.id))
    items = [{"crosswalk_id": row.id, "key": k, "value": v} for k, v in new.items()]
    for start in range(0, len(items), _INSERT_BATCH):
        session.execute(insert(CrosswalkEntry), items[start : start + _INSERT_BATCH])
    row.generation += 1
    row.row_count = len(new)
    row.last_synced_at = now


def page_entries(
    session: Session, crosswalk_id: int, *, prefix: str = "", limit: int, offset: int = 0
) -> tuple[int, list[tuple[str, str]]]:
    """The entries whose key starts with ``prefix``, in key order, and how many there are.

    Both queries walk the primary key (crosswalk_id, key): a key range narrows it to the prefix, and
    the exact comparison of the key's first characters keeps the answer right whatever the collation.
    """
    where = [CrosswalkEntry.crosswalk_id == crosswalk_id]
    if prefix:
        where += [
            CrosswalkEntry.key >= prefix,
            CrosswalkEntry.key < prefix + "\U0010ffff",
            func.substr(CrosswalkEntry.key, 1, len(prefix)) == prefix,
        ]
    total = session.scalar(select(func.count()).select_from(CrosswalkEntry).where(*where)) or 0
    rows = session.execute(
        select(CrosswalkEntry.key, CrosswalkEntry.value)
        .where(*where)
        .order_by(CrosswalkEntry.key)
        .limit(limit)
        .offset(offset)
    )
    return total, [(key, value) for key, value in rows]


def lookup_entry(session: Session, name: str, key: str) -> str | None:
    stmt = (
        select(CrosswalkEntry.value)
        .join(CrosswalkRow, CrosswalkRow.id == CrosswalkEntry.crosswalk_id)
        .where(CrosswalkRow.name == name, CrosswalkEntry.key == key)
    )
    return session.scalar(stmt)


def generations(session: Session) -> dict[str, int]:
    """Every crosswalk's generation by name: one small query, what lookup caches check."""
    return {name: gen for name, gen in session.execute(select(CrosswalkRow.name, CrosswalkRow.generation))}


__all__ = [
    "add_crosswalk",
    "crosswalk_config_values",
    "crosswalk_from_row",
    "entries",
    "generations",
    "get_crosswalk_rows",
    "lock_crosswalk",
    "lookup_entry",
    "page_entries",
    "replace_entries",
    "update_crosswalk",
]
