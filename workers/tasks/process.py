from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from axiom.domain.messages import InstanceMessage
from axiom.pipeline.route import route_instance
from workers.runtime import runtime_for
from workers.task_names import TASK_PROCESS_INSTANCE
from workers.tasks.retry import RETRY_ON_ANY_ERROR, schedule_retry


# A failure leaves the spooled file in place; past its retries the spool sweep publishes it again.
@shared_task(name=TASK_PROCESS_INSTANCE, bind=True, **RETRY_ON_ANY_ERROR)
def process_instance(self: Task, message: dict[str, Any]) -> str:
    outcome = route_instance(runtime_for(self.app), InstanceMessage.from_dict(message))
    if outcome is None:
        return "duplicate"
    for exception_id, delay in outcome.retries:
        schedule_retry(exception_id, delay)
    return str(outcome.status)
