"""Spool slots: files made durable before anything is received, so storing an instance takes one flush.

Writing a new file durably costs two flushes, the file's data and then the folder entry that names
it (``atomic_write``: fsync the temporary file, rename, fsync the folder), and with one association
every C-STORE waits for both. A slot is an empty file created while nothing waits, in a folder
beside the spool (``<spool>-slots``), a batch of them made durable with one folder fsync. Storing
an instance into a slot writes the bytes and ``fdatasync``s the file, and that one flush is what
the acknowledgement waits for: the file's name was durable already, its data and size are now.
Then the slot is renamed into the spool under the same name, without a folder fsync.

A crash may lose that rename, so a slot says for itself whether it holds a complete instance: its
128-byte preamble (free for an implementation's use, PS3.10 7.1) carries a mark, the length of
what follows and its CRC-32 (:func:`holds_instance`). The sweep (``recover_slots``) moves a
complete slot into the spool, where it is published like any stale spooled file, and removes an
empty or half-written one: that one was never acknowledged.

The process that made a slot holds an exclusive ``flock`` on it until the slot is written, renamed
and closed, so the sweep can tell a live listener's spare slot (locked: left alone) from one left
by a process that died (the lock is free). A forked child drops the slots it inherited and makes
its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import structlog

from axiom.dicom.atomic import fsync_dir

log = structlog.get_logger("axiom.spool")

MARK = b"AXIOM-SPOOL-SLOT"
_DICM = b"DICM"
PREAMBLE_BYTES = 128
HEADER_BYTES = PREAMBLE_BYTES + len(_DICM)
# A slot is made under a temporary name, locked, then renamed to its slot name, so the sweep never
# sees an unlocked slot of a live process; a temporary name a crash left is removed after this long.
TEMP_AGE_SECONDS = 60.0
_TEMP_SUFFIX = ".tmp"
_READ_CHUNK = 1 << 20


def slots_dir(spool_dir: Path) -> Path:
    return spool_dir.with_name(f"{spool_dir.name}-slots")


def preamble(length: int, crc: int) -> bytes:
    """The preamble and ``DICM`` of a slot whose content after them is ``length`` bytes with ``crc``."""
    head = MARK + length.to_bytes(8, "little") + crc.to_bytes(4, "little")
    return head.ljust(PREAMBLE_BYTES, b"\0") + _DICM


def holds_instance(fd: int) -> bool:
    """True when the open slot file is complete: marked, as long as its mark says, CRC matching."""
    size = os.fstat(fd).st_size
    head = os.pread(fd, HEADER_BYTES, 0)
    if size < HEADER_BYTES or len(head) < HEADER_BYTES or not head.startswith(MARK):
        return False
    length = int.from_bytes(head[len(MARK) : len(MARK) + 8], "little")
    expected = int.from_bytes(head[len(MARK) + 8 : len(MARK) + 12], "little")
    if size != HEADER_BYTES + length:
        return False
    crc, offset = 0, HEADER_BYTES
    while offset < size:
        chunk = os.pread(fd, min(_READ_CHUNK, size - offset), offset)
        if not chunk:
            return False
        crc = zlib.crc32(chunk, crc)
        offset += len(chunk)
    return crc == expected


class Slot:
    """One made slot: its open, locked descriptor and its paths (in the slot folder, in the spool)."""

    __slots__ = ("fd", "path", "target")

    def __init__(self, fd: int, path: Path, target: Path) -> None:
        self.fd = fd
        self.path = path
        self.target = target

    def store(self, body: Sequence[bytes | memoryview]) -> Path:
        """Write a Part 10 file (our preamble, then ``body``), flush it, move it into the spool.

        Returns the spooled path once the bytes are durable. On an error the slot is removed and the
        error propagates (the caller stores the instance another way or refuses it)."""
        try:
            crc, length = 0, 0
            for chunk in body:
                crc = zlib.crc32(chunk, crc)
                length += memoryview(chunk).nbytes
            pending = [memoryview(preamble(length, crc)), *(memoryview(c).cast("B") for c in body)]
            while pending:
                written = os.writev(self.fd, pending)
                while pending and written >= pending[0].nbytes:
                    written -= pending[0].nbytes
                    pending.pop(0)
                if pending and written:
                    pending[0] = pending[0][written:]
        except BaseException:
            self.discard()
            raise
        return self.seal()

    def seal(self) -> Path:
        """Flush what was written into the slot, move it into the spool and close it (an error
        removes it): the caller has written a complete file, its preamble marked."""
        try:
            os.fdatasync(self.fd)
            os.replace(self.path, self.target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            raise
        finally:
            os.close(self.fd)  # releases the lock: the sweep may judge what is left
        return self.target

    def discard(self) -> None:
        """Remove the slot unwritten or half-written, and close it."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.close(self.fd)


class SlotPool:
    """Ready slots for one spool folder in this process, topped up by a thread when half are used."""

    def __init__(self, spool_dir: Path, size: int) -> None:
        self.spool_dir = spool_dir
        self.directory = slots_dir(spool_dir)
        self.size = size
        self._ready: deque[Slot] = deque()
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._pid = 0

    def take(self) -> Slot | None:
        """A ready slot, or None (none ready yet, or slots cannot be made here)."""
        if self._pid != os.getpid():
            self._start()
        try:
            slot: Slot | None = self._ready.popleft()
        except IndexError:
            slot = None
        if len(self._ready) <= self.size // 2:
            self._wanted.set()
        return slot

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # Slots inherited from the parent share its locks: dropped, never written here.
            for inherited in self._ready:
                with contextlib.suppress(OSError):
                    os.close(inherited.fd)
            self._ready.clear()
            self._pid = os.getpid()
            if self._usable():
                self._wanted.set()
                threading.Thread(target=self._fill_forever, name="axiom-spool-slots", daemon=True).start()

    def _usable(self) -> bool:
        try:
            self.directory.mkdir(exist_ok=True)
            fsync_dir(self.directory.parent)
            # os.replace between the folders needs one filesystem.
            if self.directory.stat().st_dev != self.spool_dir.stat().st_dev:
                log.warning("spool slots off: the slot folder is on another filesystem than the spool")
                return False
        except OSError as exc:
            log.warning("spool slots off: the slot folder cannot be made", error=type(exc).__name__)
            return False
        return True

    def _fill_forever(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._fill()
            except OSError as exc:  # disk full, folder gone: the spool writes the slow way meanwhile
                log.warning("spool slots not made", error=type(exc).__name__)
                time.sleep(1.0)

    def _fill(self) -> None:
        made: list[Slot] = []
        try:
            while len(self._ready) + len(made) < self.size:
                made.append(self._make())
            if made:
                fsync_dir(self.directory)
        except BaseException:
            for slot in made:
                os.close(slot.fd)
                with contextlib.suppress(OSError):
                    os.unlink(slot.path)
            raise
        self._ready.extend(made)

    def _make(self) -> Slot:
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:12]}.dcm"
        path = self.directory / name
        temp = self.directory / f"{name}{_TEMP_SUFFIX}"
        # Readable too: a streamed instance is read back through a map of its slot (slot_stream.py).
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temp, path)  # made durable by the batch's folder fsync
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        return Slot(fd, path, self.spool_dir / name)

    def release(self) -> None:
        """Remove this process's unused slots (a clean stop; a crash leaves them to the sweep)."""
        if self._pid != os.getpid():
            return
        while self._ready:
            slot = self._ready.popleft()
            with contextlib.suppress(OSError):
                os.unlink(slot.path)
            os.close(slot.fd)


_pools: dict[Path, SlotPool] = {}
_pools_lock = threading.Lock()


def pool_for(spool_dir: Path, size: int) -> SlotPool:
    """The process's one pool for ``spool_dir`` (spools are cheap objects, made per task or poll)."""
    key = spool_dir.resolve()
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = SlotPool(key, size)
        return pool


def recover_slots(spool_dir: Path) -> tuple[int, int]:
    """Judge the slots no live process holds: a complete one is moved into the spool (the rename a
    crash lost; the spool sweep then publishes it), an empty or half-written one is removed.

    Returns (moved, removed)."""
    directory = slots_dir(spool_dir)
    moved = removed = 0
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0, 0
    for entry in entries:
        if entry.name.endswith(_TEMP_SUFFIX):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < time.time() - TEMP_AGE_SECONDS:
                    os.unlink(entry.path)
            continue
        if not entry.name.endswith(".dcm"):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process's slot
            if holds_instance(fd):
                os.replace(entry.path, spool_dir / entry.name)
                moved += 1
            else:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue
        finally:
            os.close(fd)
    if moved:
        fsync_dir(spool_dir)
        log.warning("spooled instances recovered from slots", count=moved)
    return moved, removed
