"""Beat's database-backed scheduler: the static periodic tasks (``beat.schedule``) plus one entry per
enabled source, read from the database.

As django-celery-beat's DatabaseScheduler does, it watches a one-row marker (``schedule_state``,
moved by every source change) and rebuilds the schedule only when it moved, so adding or changing a
source needs no restart. When the database is unreachable it keeps the last schedule it read.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import structlog
from celery import Celery
from celery.beat import ScheduleEntry, Scheduler
from celery.schedules import crontab
from celery.schedules import schedule as every
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from axiom.config import Settings
from axiom.db.repositories import sources as sources_repo
from axiom.db.session import create_db_engine, make_session_factory
from axiom.domain.sources import SourceBase
from beat.heartbeat import heartbeat_path, touch
from beat.schedule import SOURCE_ENTRY_PREFIX, beat_schedule
from workers.task_names import TASK_POLL_SOURCE

log = structlog.get_logger("axiom.beat")


def source_entry(config: SourceBase) -> dict[str, Any]:
    """The Beat entry that polls ``config`` on its schedule."""
    interval = config.schedule.interval_seconds
    options: dict[str, Any] = {"queue": "low", "routing_key": "low"}
    if interval is not None:
        run: Any = every(timedelta(seconds=interval))
        # A poll not started within one period is dropped: the next one does its work.
        options["expires"] = max(interval, 1.0)
    else:
        minute, hour, day_of_month, month, day_of_week = str(config.schedule.cron).split()
        run = crontab(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month, day_of_week=day_of_week
        )
    return {"task": TASK_POLL_SOURCE, "schedule": run, "args": (config.name,), "options": options}


class DatabaseScheduler(Scheduler):
    Entry = ScheduleEntry

    def __init__(self, app: Celery, *args: Any, **kwargs: Any) -> None:
        settings = app.conf.get("axiom_settings")
        if not isinstance(settings, Settings):
            raise RuntimeError("DatabaseScheduler needs the app built by workers.celery_app.create_app")
        self.settings = settings
        self.sessions: sessionmaker[Session] = make_session_factory(
            create_db_engine(settings.effective_database_url)
        )
        self.loaded_version: int | None = None
        self._checked_at = 0.0
        self._heartbeat = heartbeat_path(settings.data_path)
        super().__init__(app, *args, **kwargs)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """Beat's loop calls this at least every ``beat_max_loop_interval``: each call is a heartbeat."""
        delay: float = super().tick(*args, **kwargs)
        touch(self._heartbeat)
        return delay

    # -------------------------------------------------------------- schedule

    def setup_schedule(self) -> None:
        self.data = self._build({}, [])
        self._checked_at = time.monotonic()
        self.reload()

    @property
    def schedule(self) -> dict[str, ScheduleEntry]:
        now = time.monotonic()
        if now - self._checked_at >= self.settings.beat_reload_seconds:
            self._checked_at = now
            self.reload()
        return self.data

    def reload(self) -> bool:
        """Rebuild the schedule if the marker moved; True when it did. A database error keeps the last."""
        try:
            with self.sessions() as session:
                version = sources_repo.schedule_version(session)
                if version == self.loaded_version:
                    return False
                configs = list(sources_repo.load_source_configs(session, enabled_only=True).values())
        except SQLAlchemyError as exc:
            log.warning("schedule not reloaded, keeping the last one", error=type(exc).__name__)
            return False
        self.data = self._build(self.data, configs)
        self.loaded_version = version
        log.info("schedule loaded", version=version, sources=[c.name for c in configs])
        return True

    def _build(
        self, current: dict[str, ScheduleEntry], configs: Sequence[SourceBase]
    ) -> dict[str, ScheduleEntry]:
        """Fresh entries (Beat compares the old and new dicts to rebuild its heap); an entry whose
        definition did not change keeps its last-run time."""
        fields = dict(beat_schedule(self.settings))
        for config in configs:
            try:
                fields[SOURCE_ENTRY_PREFIX + config.name] = source_entry(config)
            except ValueError as exc:  # a cron field crontab cannot parse
                log.error("source not scheduled", source=config.name, error=str(exc))
        entries: dict[str, ScheduleEntry] = {}
        for name, definition in fields.items():
            entry = self.Entry(**dict(definition, name=name, app=self.app))
            old = current.get(name)
            if old is not None and old == entry:
                entry.last_run_at = old.last_run_at
                entry.total_run_count = old.total_run_count
            entries[name] = entry
        return entries

    def close(self) -> None:
        super().close()
        bind = self.sessions.kw.get("bind")
        if bind is not None:
            bind.dispose()
