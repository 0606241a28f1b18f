"""One axiom Runtime per worker process, created on first use after the fork."""

from __future__ import annotations

import os
import threading

from celery import Celery

from axiom.domain.messages import InstanceMessage
from axiom.pipeline.runtime import Runtime
from rules.model import InferSpec
from workers.celery_app import settings_of
from workers.task_names import GPU_QUEUE, TASK_INFER, TASK_PROCESS_INSTANCE

_runtimes: dict[int, Runtime] = {}
# The gpu worker runs tasks on threads: the first tasks must not each build a Runtime.
_lock = threading.Lock()


def runtime_for(app: Celery) -> Runtime:
    pid = os.getpid()
    runtime = _runtimes.get(pid)
    if runtime is None:
        with _lock:
            runtime = _runtimes.get(pid)
            if runtime is None:
                runtime = _runtimes[pid] = build_runtime(app)
    return runtime


def build_runtime(app: Celery) -> Runtime:
    """The worker's composition root: `infer` actions go to the gpu queue, whose worker publishes
    the instance for routing again."""

    def dispatch(message: InstanceMessage, specs: list[InferSpec]) -> None:
        args = [message.to_dict(), [spec.model_dump() for spec in specs]]
        app.send_task(TASK_INFER, args=args, queue=GPU_QUEUE, routing_key=GPU_QUEUE)

    def reroute(message: InstanceMessage) -> None:
        app.send_task(TASK_PROCESS_INSTANCE, args=[message.to_dict()], queue="default", routing_key="default")

    return Runtime(settings_of(app), dispatch_inference=dispatch, reroute=reroute)
