"""A size and age budget for the quarantine folder, so refused payloads cannot fill the disk.

The quarantine holds what ingest refused (malformed, bad UIDs: anyone on the network can send those)
and what rules held back. Past ``quarantine_max_days`` or over ``quarantine_max_bytes`` in all, the
oldest files go first; each exception row that pointed at a removed file keeps its place in the log
and says the copy is gone. Exception copies of undelivered instances (``exceptions/``) are never
pruned: they are acknowledged data. The low watermark stops intake before those can fill a disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from sqlalchemy import update
from sqlalchemy.orm import Session

from axiom.db.models import ExceptionLog

log = structlog.get_logger("axiom.quarantine")

PRUNED_NOTE = " [quarantined copy removed by the quarantine budget]"


@dataclass(frozen=True)
class _Entry:
    path: Path
    size: int
    mtime: float


def over_budget(folder: Path, max_bytes: int, max_days: float, *, now: float | None = None) -> list[Path]:
    """The files to remove, oldest first: those older than ``max_days``, then the oldest until the
    rest fit ``max_bytes`` (a limit of 0 is no limit)."""
    now = time.time() if now is None else now
    entries: list[_Entry] = []
    for found in os.scandir(folder):
        if found.is_file(follow_symlinks=False) and not found.name.startswith("."):
            stat = found.stat(follow_symlinks=False)
            entries.append(_Entry(Path(found.path), stat.st_size, stat.st_mtime))
    entries.sort(key=lambda e: e.mtime)
    doomed: list[Path] = []
    total = sum(e.size for e in entries)
    for item in entries:
        too_old = max_days > 0 and now - item.mtime > max_days * 86400
        too_big = max_bytes > 0 and total > max_bytes
        if not (too_old or too_big):
            break
        doomed.append(item.path)
        total -= item.size
    return doomed


def prune_quarantine(
    sessions: Callable[[], Session],
    folder: Path,
    max_bytes: int,
    max_days: float,
    *,
    now: float | None = None,
) -> int:
    """Apply the budget; the number of files removed. Rows are marked before the files go, so a crash
    in between leaves a row that says "removed" over a file still there, never a silent loss."""
    doomed = over_budget(folder, max_bytes, max_days, now=now)
    if not doomed:
        return 0
    with sessions() as session:
        session.execute(
            update(ExceptionLog)
            .where(ExceptionLog.file_path.in_([str(p) for p in doomed]))
            .values(file_path=None, message=ExceptionLog.message + PRUNED_NOTE)
        )
        session.commit()
    for path in doomed:
        path.unlink(missing_ok=True)
    log.warning("quarantine budget applied", removed=len(doomed))
    return len(doomed)
