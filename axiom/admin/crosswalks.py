"""Crosswalk sync: read each table's source and replace its entries in one transaction.

The source is read outside any transaction (it may be slow), then the entries are swapped
atomically: lookups see all old or all new entries. A failed read keeps the old entries and
records the error (which names no value). The generation moves only when the entries changed, so
caches are invalidated only then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.crosswalk_sources import SourceError, read_source
from axiom.db.base import utcnow
from axiom.db.repositories import crosswalks as repo
from axiom.domain.crosswalks import CrosswalkConfig, CrosswalkSource

SourceReader = Callable[[CrosswalkSource], dict[str, str]]


class UnknownCrosswalk(LookupError):
    pass


@dataclass(frozen=True)
class SyncResult:
    name: str
    rows: int  # entries in the table after the sync
    changed: bool  # the entries differ from before (the generation moved)
    generation: int
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        if self.error is not None:
            return f"{self.name}: failed, entries kept ({self.rows}): {self.error}"
        state = "updated" if self.changed else "unchanged"
        return f"{self.name}: {self.rows} entries, {state} (generation {self.generation})"


def sync_crosswalk(
    sessions: sessionmaker[Session],
    name: str,
    *,
    now: datetime | None = None,
    reader: SourceReader = read_source,
) -> SyncResult:
    """Sync one crosswalk now. UnknownCrosswalk when no crosswalk has that name."""
    now = now or utcnow()
    with sessions() as session:
        rows = repo.get_crosswalk_rows(session, [name])
        if name not in rows:
            raise UnknownCrosswalk(f"no crosswalk named {name!r}")
        stored_source = rows[name].source
        try:
            config: CrosswalkConfig | None = repo.crosswalk_from_row(rows[name])
        except ValidationError:
            config = None

    error: str | None = None
    new: dict[str, str] = {}
    if config is None:
        error = "the stored configuration no longer validates; apply it again"
    else:
        try:
            new = reader(config.source)
        except SourceError as exc:
            error = str(exc)

    with sessions() as session, session.begin():
        row = repo.lock_crosswalk(session, name)
        if row is None:
            raise UnknownCrosswalk(f"no crosswalk named {name!r}")
        row.last_attempt_at = now
        if error is None and row.source != stored_source:
            # An apply changed the source while we read the old one: the next sync reads the new.
            error = "the source was changed during the sync; it is synced again on the next run"
            row.last_attempt_at = None
        if error is not None:
            row.last_error = error
            return SyncResult(name, row.row_count, False, row.generation, error)
        changed = repo.entries(session, row.id) != new
        if changed:
            repo.replace_entries(session, row, new, now=now)
        else:
            row.row_count = len(new)
            row.last_synced_at = now
        row.last_error = None
        return SyncResult(name, row.row_count, changed, row.generation)


def due_crosswalks(session: Session, now: datetime) -> list[str]:
    """Names of crosswalks never tried, or whose interval has passed since the last attempt."""
    return [
        row.name
        for row in repo.get_crosswalk_rows(session).values()
        if row.last_attempt_at is None or row.last_attempt_at + timedelta(seconds=row.sync_seconds) <= now
    ]


def sync_crosswalks(
    sessions: sessionmaker[Session],
    names: Iterable[str] | None = None,
    *,
    due_only: bool = False,
    now: datetime | None = None,
    reader: SourceReader = read_source,
) -> list[SyncResult]:
    """Sync ``names`` (default: every crosswalk, or with ``due_only`` those whose interval passed).

    One failing source does not stop the others: its result carries the error.
    """
    now = now or utcnow()
    with sessions() as session:
        if names is None:
            selected = due_crosswalks(session, now) if due_only else list(repo.get_crosswalk_rows(session))
        else:
            selected = list(names)
            known = repo.get_crosswalk_rows(session, selected)
            missing = [name for name in selected if name not in known]
            if missing:
                raise UnknownCrosswalk(f"no crosswalk named {', '.join(map(repr, missing))}")
    return [sync_crosswalk(sessions, name, now=now, reader=reader) for name in selected]


__all__ = [
    "SourceReader",
    "SyncResult",
    "UnknownCrosswalk",
    "due_crosswalks",
    "sync_crosswalk",
    "sync_crosswalks",
]
