"""Polling a source, sent by Beat's database scheduler on each source's own schedule."""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from axiom.pipeline.poll import poll_source
from workers.publisher import CeleryPublisher
from workers.runtime import runtime_for
from workers.task_names import TASK_POLL_SOURCE


@shared_task(name=TASK_POLL_SOURCE, bind=True)
def poll_source_task(self: Task, name: str) -> dict[str, Any]:
    runtime = runtime_for(self.app)
    return poll_source(runtime.sessions, runtime.settings, CeleryPublisher(self.app), name).to_dict()
