"""Commit what already happened outside the database, through a database blip.

After a destination has an instance, the ledger row that says so must land: a lost row means the
instance is sent again on the rerun. A restart or failover of the database takes seconds, so the
write is tried again (a fresh session and connection each time) for a bounded while before the
error goes up.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = structlog.get_logger("axiom.db")
T = TypeVar("T")


def commit_through_blips(
    sessions: sessionmaker[Session], work: Callable[[Session], T], *, within_seconds: float = 60.0
) -> T:
    """``work(session)`` then commit; on a lost connection or a locked database, again after a
    growing pause until ``within_seconds`` have passed. ``work`` must be safe to run again (it runs
    in a new transaction each time)."""
    deadline = time.monotonic() + within_seconds
    pause = 0.25
    while True:
        try:
            with sessions() as session:
                result = work(session)
                session.commit()
                return result
        except (OperationalError, InterfaceError) as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("database unavailable; the record is tried again", error=type(exc).__name__)
            time.sleep(pause)
            pause = min(pause * 2, 4.0)
