"""Crosswalk sync, sent by Beat every ``crosswalk_sync_seconds``."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from axiom.admin.crosswalks import sync_crosswalks
from workers.runtime import runtime_for
from workers.task_names import TASK_SYNC_CROSSWALKS

log = logging.getLogger(__name__)


@shared_task(name=TASK_SYNC_CROSSWALKS, bind=True)
def sync_crosswalks_task(self: Task) -> int:
    """Sync the crosswalks that are due; returns how many synced without error."""
    results = sync_crosswalks(runtime_for(self.app).sessions, due_only=True)
    for result in results:
        if not result.ok:
            # The error names a file, column, row number or SQLSTATE, never an entry.
            log.warning("crosswalk sync failed: %s", result)
    return sum(result.ok for result in results)
