from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from axiom.domain.messages import InstanceMessage
from axiom.pipeline.route import route_instance
from axiom.pipeline.route_batch import route_batch
from workers.runtime import runtime_for
from workers.task_names import TASK_PROCESS_BATCH, TASK_PROCESS_INSTANCE
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


# acks_late: a killed worker's batch is delivered again whole; the ledger and the spooled files'
# claims make the rerun send only what was not done. An instance whose own route raised goes on as
# a process_instance task with its retries (and its attempts bounded by route_max_attempts).
@shared_task(name=TASK_PROCESS_BATCH, bind=True)
def process_batch(self: Task, messages: list[dict[str, Any]]) -> dict[str, int]:
    app = self.app

    def retry_alone(message: InstanceMessage) -> None:
        app.send_task(
            TASK_PROCESS_INSTANCE,
            args=[message.to_dict()],
            queue="default",
            routing_key="default",
            countdown=1,
        )

    outcomes = route_batch(
        runtime_for(app), [InstanceMessage.from_dict(m) for m in messages], on_error=retry_alone
    )
    counts: dict[str, int] = {}
    for outcome in outcomes:
        status = "duplicate" if outcome is None else str(outcome.status)
        counts[status] = counts.get(status, 0) + 1
        for exception_id, delay in outcome.retries if outcome is not None else ():
            schedule_retry(exception_id, delay)
    return counts
