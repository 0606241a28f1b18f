"""Celery's logging goes through Axiom's (axiom/logging.py) and carries each task's correlation id.

Connecting ``setup_logging`` tells Celery to leave logging alone: the role configured it already, so
Celery's worker, beat and task records reach the same root handler as everything else. A task whose
first argument is an instance message binds that message's correlation id (and the task id) while it
runs, so Celery's own "Task ... succeeded" record carries it too.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import signals

_UID = "axiom-log-context"


def _keep_our_logging(**_: Any) -> None:
    return None


def _bind(task_id: str = "", args: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    first = args[0] if isinstance(args, list | tuple) and args else None
    correlation_id = first.get("correlation_id") if isinstance(first, dict) else None
    if correlation_id:
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, task_id=task_id)
    else:
        structlog.contextvars.bind_contextvars(task_id=task_id)


def _unbind(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def connect() -> None:
    """Idempotent: each receiver is connected once per process."""
    signals.setup_logging.connect(_keep_our_logging, dispatch_uid=_UID, weak=False)
    signals.task_prerun.connect(_bind, dispatch_uid=_UID, weak=False)
    signals.task_postrun.connect(_unbind, dispatch_uid=_UID, weak=False)
