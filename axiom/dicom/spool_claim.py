"""A claim on one spooled file while a worker routes it: the lease that keeps two tasks for the same
arrival (a task the spool sweep republished while the first still waited in a backlog, a redelivery
racing the original) from routing it at the same time.

The claim is an exclusive ``flock`` on the open file: the kernel drops it when the holder's process
dies, so a killed worker never leaves a stale lease behind, and holding it costs no database
statement. A second claimant does not wait: the file is in flight elsewhere and the task that holds it
answers for it. Whoever gets the claim after the holder finished finds the file gone (removed or
moved to quarantine) and treats its task as the duplicate it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


class InFlight(Exception):
    """Another task holds the claim on this spooled file right now."""


def _still_linked(path: Path, fd: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def claim(path: Path) -> Iterator[bytes]:
    """Hold the spooled file exclusively and yield its bytes.

    Raises ``FileNotFoundError`` when the file is gone (finished by an earlier task, also when that
    task finished between our open and our lock) and ``InFlight`` when another task holds it.
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InFlight(path.name) from None
        if not _still_linked(path, fd):
            raise FileNotFoundError(path.name)
        with os.fdopen(os.dup(fd), "rb") as handle:
            content = handle.read()
        yield content
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def in_flight(path: Path) -> bool:
    """True while some task holds the claim on ``path`` (a look, not a claim: it is not kept)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
