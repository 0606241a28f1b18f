"""A large instance written into a spool slot while it is still arriving, not gathered in memory first.

The listener gathers a C-STORE's data set fragments and the spool writes them once the last one is
in, then flushes: the whole instance sits in memory (per association: ten senders of 1 GiB
multi-frame objects hold 10 GiB), and the sender waits for all of it to be copied and flushed after
it sent the last byte. Once a request's data
passes ``spool_stream_after_bytes`` (``STREAM_AFTER``), its fragments go into a spool slot as they come (after our File Meta,
which is known from the command set), with the disk's writeback started for each part
(``writeback.py``), so the final ``fdatasync`` finds little left. The data set is then validated
through a read-only map of the slot: a 1 GiB instance never sits in the listener's own memory.

Nothing is acknowledged before ``commit``: it writes the preamble with the length and CRC-32 of
what follows (``spool_slots.preamble``), flushes and moves the slot into the spool, exactly the file
``Slot.store`` writes. Until then the slot's preamble is a hole of zeros, so a crash leaves a slot
the sweep removes (``recover_slots``: no mark, never acknowledged). ``close`` removes an uncommitted
slot (a refusal, an abort, an error); a stream dropped without ``close`` is removed when collected.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import weakref
import zlib
from pathlib import Path

from axiom.dicom.spool_slots import HEADER_BYTES, Slot, preamble
from axiom.dicom.writeback import start_writeback

# The default of ``spool_stream_after_bytes``: under it an instance stays in memory. Measured with
# 512 KiB CT images over one association (docs/performance.md): streaming them gained nothing, and
# starting writeback every 64 KiB cost 8% of the rate; it pays where memory and the final flush
# grow with the instance.
STREAM_AFTER = 4 << 20
# Writeback is asked for in parts of this size: a 50 MiB instance's final fdatasync went from 33 ms
# to 2 ms, for the same CPU.
WRITEBACK_STEP = 4 << 20


def _write_at(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view = view[written:]
        offset += written


class StreamedSlot:
    """One large instance on its way into the spool: our File Meta, then the data as it arrives."""

    def __init__(self, slot: Slot, meta: bytes) -> None:
        self._slot = slot
        self.meta = meta
        self._data_start = HEADER_BYTES + len(meta)
        self._end = HEADER_BYTES
        self._flushed = HEADER_BYTES
        self._crc = 0
        self._map: mmap.mmap | None = None
        self._views: list[memoryview] = []
        # Removes the slot if nobody commits or closes it (an association killed with the
        # request still queued); detached once committed.
        self._finalizer = weakref.finalize(self, slot.discard)
        try:
            self.append(meta)
        except BaseException:
            self._finalizer()
            raise

    @property
    def size(self) -> int:
        """Data set bytes written so far (File Meta not counted)."""
        return self._end - self._data_start

    def append(self, chunk: bytes | memoryview) -> None:
        _write_at(self._slot.fd, chunk, self._end)
        self._crc = zlib.crc32(chunk, self._crc)
        self._end += memoryview(chunk).nbytes
        if self._end - self._flushed >= WRITEBACK_STEP:
            start_writeback(self._slot.fd, self._flushed, self._end - self._flushed)
            self._flushed = self._end

    def view(self) -> memoryview:
        """The data set as written, read-only: a map of the slot (the page cache, not this process's
        memory), valid until ``close``."""
        if self._map is None:
            self._map = mmap.mmap(self._slot.fd, self._end, prot=mmap.PROT_READ)
            whole = memoryview(self._map)
            self._views = [whole, whole[self._data_start : self._end]]
        return self._views[-1]

    def read_back(self) -> bytes:
        """The data set as written (from the page cache: one copy, only once it is complete)."""
        parts, at = [], self._data_start
        while at < self._end:
            part = os.pread(self._slot.fd, self._end - at, at)
            if not part:
                raise OSError("the spool slot is shorter than what was written to it")
            parts.append(part)
            at += len(part)
        return b"".join(parts)  # one part: that very object, no copy

    def commit(self, meta: bytes) -> Path | None:
        """Make the slot the spooled file and return its path once durable; None (nothing done)
        when ``meta`` is not the File Meta the stream began with. An error removes the slot."""
        if meta != self.meta or not self._finalizer.alive:
            return None
        self._finalizer.detach()
        try:
            _write_at(self._slot.fd, preamble(self._end - HEADER_BYTES, self._crc), 0)
        except BaseException:
            self._slot.discard()
            raise
        return self._slot.seal()

    def close(self) -> None:
        """Release the map; remove the slot unless it was committed."""
        for view in reversed(self._views):
            view.release()
        self._views = []
        if self._map is not None:
            with contextlib.suppress(BufferError):  # a caller still holds a slice: unmapped when collected
                self._map.close()
            self._map = None
        self._finalizer()
