"""Room on the data volume: ingest stops taking what it could not keep, and starts again by itself.

Below the low watermark of free space the listener answers 0xA700 (out of resources) and STOW-RS 503
with Retry-After, before anything is written; above the high watermark they take instances again.
The gap between the two keeps the state from flapping while a worker drains the spool. The volume is
asked at most once per ``check_every`` seconds (statvfs is cheap, but not free on the hot path).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from axiom import metrics

FreeBytes = Callable[[Path], int]


def _free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


class DiskRoom:
    def __init__(
        self,
        path: Path,
        low_bytes: int,
        high_bytes: int,
        *,
        check_every: float = 1.0,
        free_bytes: FreeBytes = _free_bytes,
    ) -> None:
        if high_bytes < low_bytes:
            raise ValueError("the high watermark must not be below the low one")
        self.path = path
        self.low_bytes = low_bytes
        self.high_bytes = high_bytes
        self.check_every = check_every
        self._free_bytes = free_bytes
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._paused = False
        self.free = 0

    def has_room(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now - self._checked_at >= self.check_every:
                self._checked_at = now
                self._update(self._free_bytes(self.path))
            return not self._paused

    def _update(self, free: int) -> None:
        self.free = free
        if self._paused and free >= self.high_bytes:
            self._paused = False
        elif not self._paused and free < self.low_bytes:
            self._paused = True
        metrics.DISK_FREE_BYTES.set(free)
        metrics.INGEST_PAUSED.set(1 if self._paused else 0)

    def describe(self) -> str:
        """For /ready: "ok" or why ingest is paused (byte counts only)."""
        if self.has_room():
            return f"ok ({self.free} bytes free)"
        return f"paused: {self.free} bytes free, below {self.low_bytes}; resumes above {self.high_bytes}"
