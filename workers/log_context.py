"""Celery's logging goes through Axiom's (axiom/logging.py) and carries each task's correlation id.

Connecting ``setup_logging`` tells Celery to leave logging alone: the role configured it already, so
Celery's worker, beat and task records reach the same root handler as everything else. A task whose
first argument is an instance message (or a batch of them) binds the correlation id (or ids) and the
task id while it runs, so Celery's own "Task ... succeeded" record carries them too.
"""

from __future__ import annotations

from typing import Any

import structlog
from celery import signals

_UID = "axiom-log-context"


def _keep_our_logging(**_: Any) -> None:
    return None


def correlation_ids(args: Any) -> list[str]:
    """The correlation ids of a task's instance messages: its first argument is one message
    (``process_instance``) or a list of them (``process_batch``)."""
    first = args[0] if isinstance(args, list | tuple) and args else None
    messages = first if isinstance(first, list) else [first]
    return [str(m["correlation_id"]) for m in messages if isinstance(m, dict) and m.get("correlation_id")]


def _bind(task_id: str = "", args: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    ids = correlation_ids(args)
    if len(ids) == 1:
        structlog.contextvars.bind_contextvars(correlation_id=ids[0], task_id=task_id)
    elif ids:  # a batch: each instance's own records carry its id (route binds it per instance)
        structlog.contextvars.bind_contextvars(correlation_ids=ids, task_id=task_id)
    else:
        structlog.contextvars.bind_contextvars(task_id=task_id)


def _unbind(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


def connect() -> None:
    """Idempotent: each receiver is connected once per process."""
    signals.setup_logging.connect(_keep_our_logging, dispatch_uid=_UID, weak=False)
    signals.task_prerun.connect(_bind, dispatch_uid=_UID, weak=False)
    signals.task_postrun.connect(_unbind, dispatch_uid=_UID, weak=False)
