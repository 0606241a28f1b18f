"""The database-backed Beat scheduler: static tasks plus one entry per enabled source, reloaded only
when the "schedule changed" marker moves, and kept through a database outage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.schedules import crontab
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import apply_config, parse_config
from axiom.config import Settings
from axiom.db.models import SourceRow
from beat.heartbeat import heartbeat_path
from beat.scheduler import DatabaseScheduler
from workers.celery_app import create_app
from workers.task_names import TASK_POLL_SOURCE

STATIC = {"retry-sweep", "recover-spool", "crosswalk-sync", "completion-check", "header-cleanup"}


def _source(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "dicomweb",
        "url": "http://127.0.0.1:1/dicom-web",
        "schedule": {"every_seconds": 2},
        **extra,
    }


def _apply(sessions: sessionmaker[Session], *sources: dict[str, Any]) -> None:
    with sessions() as session:
        apply_config(session, parse_config({"sources": list(sources)}), actor="test")
        session.commit()


@pytest.fixture
def scheduler(migrated_db_url: str, engine: Any, tmp_path: Path) -> Iterator[DatabaseScheduler]:
    settings = Settings(data_dir=tmp_path / "data", database_url=migrated_db_url, beat_reload_seconds=0)
    scheduler = DatabaseScheduler(create_app(settings), lazy=False)
    yield scheduler
    scheduler.close()


def test_static_tasks_and_sources_share_one_schedule(
    scheduler: DatabaseScheduler, sessions: sessionmaker[Session]
) -> None:
    assert set(scheduler.schedule) >= STATIC
    assert not [name for name in scheduler.schedule if name.startswith("source:")]

    _apply(
        sessions,
        _source("web"),
        _source("nightly", schedule={"cron": "30 2 * * 1-5"}),
        _source("off", enabled=False),
    )
    schedule = scheduler.schedule
    assert {"source:web", "source:nightly"} <= set(schedule) and "source:off" not in schedule
    web = schedule["source:web"]
    assert web.task == TASK_POLL_SOURCE and list(web.args) == ["web"]
    assert web.schedule.run_every.total_seconds() == 2
    assert web.options["queue"] == "low" and web.options["expires"] == 2
    nightly = schedule["source:nightly"].schedule
    assert isinstance(nightly, crontab)
    assert nightly.minute == {30} and nightly.hour == {2} and nightly.day_of_week == {1, 2, 3, 4, 5}


def test_reload_only_when_the_marker_moves(
    scheduler: DatabaseScheduler, sessions: sessionmaker[Session]
) -> None:
    _apply(sessions, _source("web"))
    before = scheduler.schedule
    assert "source:web" in before
    version = scheduler.loaded_version

    # A row changed behind the marker's back is not seen: Beat reads the sources only on a move.
    with sessions() as session:
        session.execute(update(SourceRow).where(SourceRow.name == "web").values(enabled=False))
        session.commit()
    assert scheduler.reload() is False
    assert scheduler.schedule is before and scheduler.loaded_version == version

    _apply(sessions, _source("web", schedule={"every_minutes": 1}))
    assert scheduler.reload() is True
    assert scheduler.reload() is False  # loaded once per move
    after = scheduler.schedule
    assert after is not before and scheduler.loaded_version == version + 1  # type: ignore[operator]
    assert after["source:web"].schedule.run_every.total_seconds() == 60
    # Unchanged entries keep their last-run time across a reload.
    assert after["retry-sweep"].last_run_at == before["retry-sweep"].last_run_at


def test_database_outage_keeps_the_last_schedule(
    scheduler: DatabaseScheduler, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, _source("web"))
    kept = scheduler.schedule
    assert "source:web" in kept

    from axiom.db.session import create_db_engine, make_session_factory

    # Point the scheduler at a database that cannot be opened (a directory, not a file).
    broken = tmp_path / "gone"
    broken.mkdir()
    scheduler.sessions = make_session_factory(create_db_engine(f"sqlite:///{broken}"))
    scheduler.loaded_version = None  # would force a reload, were the database there
    assert scheduler.reload() is False
    assert scheduler.schedule is kept
    assert "source:web" in scheduler.schedule


def test_beat_role_uses_the_database_scheduler() -> None:
    import inspect

    from cli import roles

    assert "beat.scheduler:DatabaseScheduler" in inspect.getsource(roles.run_beat)


def test_each_tick_is_a_heartbeat_the_probe_checks(scheduler: DatabaseScheduler) -> None:
    data = scheduler.settings.data_path
    probe = [sys.executable, "-m", "beat.heartbeat", "--max-age", "60"]
    env = {**os.environ, "AXIOM_DATA_DIR": str(data)}
    assert subprocess.run(probe, env=env, capture_output=True).returncode == 1  # no beat yet
    scheduler.tick()
    assert subprocess.run(probe, env=env, capture_output=True).returncode == 0
    old = time.time() - 120
    os.utime(heartbeat_path(data), (old, old))
    stale = subprocess.run(probe, env=env, capture_output=True, text=True)
    assert stale.returncode == 1 and "old" in stale.stderr
