"""Shorter polling in pynetdicom's reactors, for the listener process only.

pynetdicom moves every PDU through two polling loops: the DUL thread sleeps ``_run_loop_delay``
(1 ms) whenever it finds nothing to do, and the association thread sleeps a fixed 1 ms per turn.
A C-STORE crosses both loops several times, so with one association the sleeps, not the work,
set the rate (pynetdicom issues #120 and #650 discuss the trade-off). The DUL delay is an
attribute pynetdicom reads per association; the association loop's 1 ms is a literal, so the
``time`` module that pynetdicom.association sees is given a sleep capped at the same interval.
The cost is CPU while an association is open and idle: each loop wakes every ``interval``.
"""

from __future__ import annotations

import time
import types
from typing import Any

from pynetdicom import association
from pynetdicom.events import Event


class _CappedSleep(types.ModuleType):
    def __init__(self, interval: float) -> None:
        super().__init__("time")
        self._interval = interval

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self._interval))


def shorten_association_polling(interval: float) -> None:
    """Cap the association reactor's sleeps at ``interval`` seconds (process-wide, idempotent)."""
    association.time = _CappedSleep(interval)


def dul_polling_handler(interval: float) -> Any:
    """An EVT_CONN_OPEN handler that sets the DUL loop delay of each new association."""

    def on_connection_open(event: Event) -> None:
        event.assoc.dul._run_loop_delay = interval

    return on_connection_open
