"""The Celery app for Celery's own tools: ``celery -A workers.app inspect ping`` (``status``, ``purge``,
``events``, ``inspect active_queues`` ...), with the same settings as ``axiom worker``.

Importing this module builds nothing: ``app`` is made from Settings (the ``AXIOM_*`` environment) on
first access, which is what ``celery -A`` does. Remote control needs a real broker; the embedded
filesystem broker has none (``worker_enable_remote_control`` is off there).
"""

from __future__ import annotations

from functools import cache

from celery import Celery

from axiom.config import get_settings
from workers.celery_app import create_app

# Declared for type checkers only: no value here, so the module __getattr__ below builds it.
app: Celery


@cache
def _app() -> Celery:
    return create_app(get_settings())


def __getattr__(name: str) -> Celery:
    if name in ("app", "celery"):  # the two names `celery -A module` looks for
        return _app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
