from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from axiom.pipeline.retry import retry_delivery
from workers.runtime import runtime_for
from workers.task_names import TASK_RETRY_DELIVERY


@shared_task(name=TASK_RETRY_DELIVERY, bind=True, max_retries=None)
def retry_delivery_task(self: Task, exception_id: int) -> str:
    try:
        outcome = retry_delivery(runtime_for(self.app), exception_id)
    except Exception as exc:
        # The row stays open with its retry time; the Beat sweep schedules it again if this gives up.
        raise self.retry(
            exc=exc, countdown=runtime_for(self.app).settings.retry_base_seconds, max_retries=10
        ) from exc
    if outcome.state == "retry":
        # Celery re-publishes this task with the backoff as countdown; attempts are counted in the row.
        raise self.retry(countdown=outcome.next_delay)
    return outcome.state


# For tasks whose work survives their failure (a spooled file, a claimed group): an unexpected error
# (a locked or unreachable database, a full disk) retries the task with backoff.
RETRY_ON_ANY_ERROR: dict[str, Any] = {
    "autoretry_for": (Exception,),
    "retry_backoff": 1,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 20,
}


def schedule_retry(exception_id: int, delay: float) -> None:
    retry_delivery_task.apply_async(args=[exception_id], countdown=delay)
