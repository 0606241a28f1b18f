"""Start the kernel writing a file range to disk now, without waiting (Linux ``sync_file_range``).

A large instance streamed into a spool slot is flushed with one ``fdatasync`` once it is complete,
and the sender waits for that flush. Asking for the writeback of each part as it is written lets the
disk work while the rest is still on the wire, so the final flush finds little left to do (here
0.57 -> 0.15 ms for 512 KiB). It guarantees nothing by itself: durability is still the final
``fdatasync``'s job. Where the call does not exist (not Linux, no glibc) it does nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
from collections.abc import Callable

_SYNC_FILE_RANGE_WRITE = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.sync_file_range
        call.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
        call.restype = ctypes.c_int
        return call
    return None


_sync_file_range = _load()


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask for ``length`` bytes of ``fd`` from ``offset`` to be written out; True when the kernel took
    the request (a refusal is harmless: the final flush writes them)."""
    if _sync_file_range is None or length <= 0:
        return False
    return _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0
