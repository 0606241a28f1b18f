"""The periodic tasks Beat sends, with their intervals from Settings.

These are the static entries; ``beat.scheduler.DatabaseScheduler`` adds one entry per enabled source
(read from the database) beside them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from axiom.config import Settings
from axiom.domain.sources import SourceBase
from workers.task_names import (
    TASK_CHECK_COMPLETIONS,
    TASK_POLL_SOURCE,
    TASK_PURGE_HEADERS,
    TASK_RECOVER_SPOOL,
    TASK_RETRY_SWEEP,
    TASK_SYNC_CROSSWALKS,
)

# Beat entry names of the sources: "source:<name>".
SOURCE_ENTRY_PREFIX = "source:"


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    return {
        # Re-schedules delivery retries whose task was lost.
        "retry-sweep": {"task": TASK_RETRY_SWEEP, "schedule": settings.retry_sweep_seconds},
        # Re-publishes spooled files that no worker finished.
        "recover-spool": {"task": TASK_RECOVER_SPOOL, "schedule": settings.spool_sweep_seconds},
        # Syncs the crosswalks whose own interval has passed (each has its sync_seconds).
        "crosswalk-sync": {"task": TASK_SYNC_CROSSWALKS, "schedule": settings.crosswalk_sync_seconds},
        # Sends each series/study that a series/study-complete rule collected, once it is complete.
        "completion-check": {"task": TASK_CHECK_COMPLETIONS, "schedule": settings.completion_check_seconds},
        # Deletes received headers older than header_retention_days (kept for `axiom rules replay`).
        "header-cleanup": {
            "task": TASK_PURGE_HEADERS,
            "schedule": settings.header_cleanup_seconds,
            "options": {"queue": "low", "routing_key": "low"},
        },
    }


def schedule_overview(settings: Settings, sources: Iterable[SourceBase]) -> list[dict[str, Any]]:
    """Every entry Beat runs, in words: the static periodic tasks, then one per enabled source (the
    same entries ``beat.scheduler.DatabaseScheduler`` builds)."""
    rows: list[dict[str, Any]] = [
        {"name": name, "task": entry["task"], "every_seconds": float(entry["schedule"]), "cron": None}
        for name, entry in beat_schedule(settings).items()
    ]
    for source in sources:
        if source.enabled:
            rows.append(
                {
                    "name": SOURCE_ENTRY_PREFIX + source.name,
                    "task": TASK_POLL_SOURCE,
                    "every_seconds": source.schedule.interval_seconds,
                    "cron": source.schedule.cron,
                }
            )
    return rows
