from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from axiom.ai.infer_and_route import infer_and_route
from axiom.domain.messages import InstanceMessage
from workers.runtime import runtime_for
from workers.task_names import TASK_INFER
from workers.tasks.retry import RETRY_ON_ANY_ERROR


# On the gpu queue: the worker's task threads feed one micro-batcher per model (axiom.ai.batching).
@shared_task(name=TASK_INFER, bind=True, **RETRY_ON_ANY_ERROR)
def infer(self: Task, message: dict[str, Any], specs: list[dict[str, Any]]) -> str:
    return infer_and_route(runtime_for(self.app), InstanceMessage.from_dict(message), specs)
