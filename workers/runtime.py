"""One axiom Runtime per worker process, created on first use after the fork."""

from __future__ import annotations

import os

from celery import Celery

from axiom.services.runtime import Runtime
from workers.celery_app import settings_of

_runtimes: dict[int, Runtime] = {}


def runtime_for(app: Celery) -> Runtime:
    pid = os.getpid()
    runtime = _runtimes.get(pid)
    if runtime is None:
        runtime = _runtimes[pid] = Runtime(settings_of(app))
    return runtime
