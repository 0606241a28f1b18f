"""The quarantine budget removes the oldest refused payloads past its age or size, and their
exception rows say so (real SQLite, real files)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.models import ExceptionLog
from axiom.db.repositories import exceptions as exception_repo
from axiom.pipeline.quarantine_budget import PRUNED_NOTE, prune_quarantine

DAY = 86400.0


def _quarantined(folder: Path, name: str, size: int, age_days: float, now: float) -> Path:
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now - age_days * DAY, now - age_days * DAY))
    return path


def test_oldest_go_first_past_age_then_size(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    now = 1_800_000_000.0
    folder = tmp_path / "quarantine"
    folder.mkdir()
    ancient = _quarantined(folder, "a.dcm", 10, 40, now)
    old = _quarantined(folder, "b.dcm", 600, 5, now)
    middle = _quarantined(folder, "c.dcm", 600, 3, now)
    new = _quarantined(folder, "d.dcm", 600, 1, now)
    with sessions() as session:
        for path in (ancient, old, middle, new):
            exception_repo.add_exception(
                session,
                stage="ingest",
                error_class="InvalidDataset",
                message="refused",
                sop_instance_uid="",
                study_instance_uid="",
                file_path=str(path),
            )
        session.commit()

    removed = prune_quarantine(sessions, folder, max_bytes=1300, max_days=30, now=now)

    assert removed == 2
    assert sorted(p.name for p in folder.iterdir()) == ["c.dcm", "d.dcm"]
    with sessions() as session:
        rows = {r.id: r for r in session.scalars(select(ExceptionLog))}
    pruned = [r for r in rows.values() if r.file_path is None]
    assert len(pruned) == 2 and all(r.message.endswith(PRUNED_NOTE) for r in pruned)
    assert len(rows) == 4  # the log keeps every refusal
