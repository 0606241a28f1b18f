"""Series/study-complete rules: Beat claims complete groups, a worker sends each one once."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import Task, shared_task

from axiom.pipeline.completion import (
    claim_complete_groups,
    fire_group,
    purge_fired_groups,
    refresh_expected_counts,
)
from workers.runtime import runtime_for
from workers.task_names import TASK_CHECK_COMPLETIONS, TASK_FIRE_GROUP
from workers.tasks.retry import RETRY_ON_ANY_ERROR, schedule_retry


@shared_task(name=TASK_CHECK_COMPLETIONS, bind=True)
def check_completions(self: Task) -> int:
    runtime = runtime_for(self.app)
    now = datetime.now(UTC)
    refresh_expected_counts(runtime, now)
    group_ids = claim_complete_groups(runtime, now)
    for group_id in group_ids:
        fire_group_task.apply_async(args=[group_id])
    purge_fired_groups(runtime, now)
    return len(group_ids)


# A failure mid-way leaves the group firing with its sent members marked; the retry resumes there,
# and past its retries the check claims the group again after completion_refire_after_seconds.
@shared_task(name=TASK_FIRE_GROUP, bind=True, **RETRY_ON_ANY_ERROR)
def fire_group_task(self: Task, group_id: int) -> str:
    outcome = fire_group(runtime_for(self.app), group_id, datetime.now(UTC))
    for exception_id, delay in outcome.retries:
        schedule_retry(exception_id, delay)
    return outcome.state
