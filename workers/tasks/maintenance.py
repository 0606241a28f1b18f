"""Periodic safety nets run by Beat."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Task, shared_task

from axiom.pipeline.header_retention import delete_expired_headers
from axiom.pipeline.quarantine_budget import prune_quarantine
from axiom.pipeline.recover import recover_spool
from axiom.pipeline.retry import due_retries
from workers.celery_app import settings_of
from workers.publisher import CeleryPublisher
from workers.runtime import runtime_for
from workers.task_names import TASK_PURGE_HEADERS, TASK_RECOVER_SPOOL, TASK_RETRY_SWEEP
from workers.tasks.retry import schedule_retry


@shared_task(name=TASK_RETRY_SWEEP, bind=True)
def retry_sweep(self: Task) -> int:
    runtime = runtime_for(self.app)
    # Overdue by two sweep periods: the retry task scheduled for it was lost (e.g. a killed worker).
    ids = due_retries(runtime, grace_seconds=2 * runtime.settings.retry_sweep_seconds)
    for exception_id in ids:
        schedule_retry(exception_id, 0)
    return len(ids)


@shared_task(name=TASK_RECOVER_SPOOL, bind=True)
def recover_spool_task(self: Task) -> int:
    runtime = runtime_for(self.app)
    settings = runtime.settings
    # The same sweep keeps the quarantine within its budget.
    prune_quarantine(
        runtime.sessions, settings.quarantine_dir, settings.quarantine_max_bytes, settings.quarantine_max_days
    )
    publisher = CeleryPublisher(self.app)
    return recover_spool(settings_of(self.app), publisher, publisher.queued_instances)


@shared_task(name=TASK_PURGE_HEADERS, bind=True)
def purge_headers_task(self: Task) -> int:
    runtime = runtime_for(self.app)
    return delete_expired_headers(
        runtime.sessions, retention_days=runtime.settings.header_retention_days, now=datetime.now(UTC)
    )
