"""The Beat entry and the worker task that sync due crosswalks, run in-process on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

import workers.runtime
from axiom.admin.apply_config import apply_config, parse_config
from axiom.admin.crosswalks import sync_crosswalk
from axiom.config import Settings
from axiom.db.repositories.crosswalks import get_crosswalk_rows
from beat.schedule import beat_schedule
from workers.celery_app import create_app
from workers.task_names import TASK_SYNC_CROSSWALKS


def test_beat_sends_the_sync_task_on_the_configured_interval() -> None:
    entry = beat_schedule(Settings(crosswalk_sync_seconds=42))["crosswalk-sync"]
    assert entry == {"task": TASK_SYNC_CROSSWALKS, "schedule": 42}


def test_task_syncs_due_crosswalks_only(
    engine: Engine,
    sessions: sessionmaker[Session],
    migrated_db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The worker keeps one Runtime per process; this test's app must not get another test's.
    monkeypatch.setattr(workers.runtime, "_runtimes", {})
    csv_path = tmp_path / "sites.csv"
    csv_path.write_text("code,institution\nA1,North\n", encoding="utf-8")
    source = {"csv": str(csv_path), "key_column": "code", "value_column": "institution"}
    broken = {"csv": str(tmp_path / "missing.csv"), "key_column": "code", "value_column": "institution"}
    config = {
        "crosswalks": [
            {"name": "fresh", "source": source},
            {"name": "synced", "source": source, "sync_seconds": 3600},
            {"name": "broken", "source": broken},
        ]
    }
    with sessions() as session:
        apply_config(session, parse_config(config), actor="test")
        session.commit()
    assert sync_crosswalk(sessions, "synced").ok  # synced just now: not due for an hour

    app = create_app(Settings(data_dir=tmp_path / "data", database_url=migrated_db_url))
    app.loader.import_default_modules()  # what a starting worker does with TASK_MODULES
    assert TASK_SYNC_CROSSWALKS in app.tasks
    assert app.conf.task_routes[TASK_SYNC_CROSSWALKS]["queue"] == "low"

    outcome = app.tasks[TASK_SYNC_CROSSWALKS].apply()

    assert outcome.get() == 1  # "fresh" synced; "broken" failed and kept its error
    with sessions() as session:
        rows = get_crosswalk_rows(session)
    assert (rows["fresh"].row_count, rows["fresh"].generation) == (1, 1)
    assert rows["synced"].generation == 1
    assert rows["broken"].last_error is not None and "file not found" in rows["broken"].last_error
