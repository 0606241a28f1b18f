"""A seekable binary reader over received bytes that does not copy them first.

``BytesIO(memoryview)`` copies the whole buffer before the first read: cheap for a few hundred KiB,
but a large instance is validated through a map of its spool slot (``slot_stream.py``) precisely so
that it is not copied into memory. Element headers are read through a small buffer instead and
values skipped by seeking, as pydicom's element generator does.
"""

from __future__ import annotations

import io
from typing import BinaryIO

# Above this, a memoryview is read in place; below, BytesIO's one copy is cheaper than Python reads.
COPY_UP_TO = 1 << 20


class _ViewIO(io.RawIOBase):
    def __init__(self, view: memoryview) -> None:
        self._view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        start = self._pos
        count = max(0, min(len(buffer), len(self._view) - start))
        buffer[:count] = self._view[start : start + count]
        self._pos = start + count
        return count

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def tell(self) -> int:
        return self._pos


def reader(data: bytes | memoryview) -> BinaryIO:
    """``data`` as a seekable binary file; a large memoryview is not copied."""
    if isinstance(data, bytes) or len(data) <= COPY_UP_TO:
        return io.BytesIO(data)  # of bytes: shares them, no copy
    return io.BufferedReader(_ViewIO(memoryview(data)))
