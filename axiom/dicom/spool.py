"""The spool: received instances as DICOM files, written atomically before anything is acknowledged.

The encoded dataset is kept byte for byte as the peer sent it; only the File Meta Information is ours,
and it records the sending and receiving AE titles so a spooled file describes its own arrival.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
import uuid
from pathlib import Path

from pydicom.dataset import FileMetaDataset

from axiom.config import Settings
from axiom.dicom.atomic import atomic_write
from axiom.dicom.disk_room import DiskRoom
from axiom.dicom.file_meta import encode_file_meta
from axiom.dicom.slot_stream import StreamedSlot
from axiom.dicom.spool_slots import SlotPool, pool_for
from axiom.domain.received import Prewritten

PREAMBLE = b"\x00" * 128 + b"DICM"


class ForeignSpoolPath(ValueError):
    """A task named a file that is not one of this spool's: refused, never read or moved."""


# What Spool._name and the retry/recovery copies produce: no separators, no leading dot.
_SPOOL_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,200}\.dcm")


class Spool:
    def __init__(
        self,
        spool_dir: Path,
        quarantine_dir: Path,
        *,
        fsync: bool = True,
        room: DiskRoom | None = None,
        max_instance_bytes: int = 1 << 62,
        slots: int = 0,
    ) -> None:
        self.spool_dir = spool_dir
        self.quarantine_dir = quarantine_dir
        self.fsync = fsync
        # Ingest's view of free space (None: never refuse for want of room, as a worker's spool).
        self.room = room
        self.max_instance_bytes = max_instance_bytes
        spool_dir.mkdir(parents=True, exist_ok=True)
        quarantine_dir.mkdir(parents=True, exist_ok=True)
        # Resolved once: own() runs for every instance a worker routes.
        self._resolved_dir = spool_dir.resolve()
        self._dir_texts = frozenset({str(spool_dir), str(self._resolved_dir)})
        # Ingest writes into slots made durable ahead (one flush per instance, spool_slots.py);
        # without fsync there is nothing to save.
        self._slots: SlotPool | None = pool_for(spool_dir, slots) if slots > 0 and fsync else None

    def close(self) -> None:
        """Remove this process's unused slots (a stopping listener; a crash leaves them to the sweep)."""
        if self._slots is not None:
            self._slots.release()

    def has_room(self) -> bool:
        return self.room is None or self.room.has_room()

    @staticmethod
    def _name() -> str:
        # Time-ordered so a sweep sees the oldest first; the random part keeps names unique
        # across listener processes.
        return f"{time.time_ns()}-{uuid.uuid4().hex[:12]}.dcm"

    def write(
        self, meta: FileMetaDataset | bytes, dataset: bytes | memoryview, prewritten: Prewritten | None = None
    ) -> Path:
        encoded = encode_file_meta(meta)
        if prewritten is not None:
            path = prewritten.commit(encoded)
            if path is not None:
                return path
        slot = self._slots.take() if self._slots is not None else None
        if slot is not None:
            return slot.store((encoded, dataset))
        path = self.spool_dir / self._name()
        atomic_write(path, (PREAMBLE, encoded, dataset), fsync=self.fsync)
        return path

    def stream(self, meta: bytes) -> StreamedSlot | None:
        """A slot to write a large instance into as it arrives, after the encoded File Meta ``meta``;
        None when there is none ready or too little room (the instance is then gathered in memory)."""
        if self._slots is None or not self.has_room():
            return None
        slot = self._slots.take()
        return StreamedSlot(slot, meta) if slot is not None else None

    def quarantine_bytes(self, meta: FileMetaDataset | bytes | None, dataset: bytes | memoryview) -> Path:
        """Keep a refused payload exactly as received (with our meta when we could build one)."""
        path = self.quarantine_dir / self._name()
        chunks: tuple[bytes | memoryview, ...] = (
            (PREAMBLE, encode_file_meta(meta), dataset) if meta is not None else (dataset,)
        )
        atomic_write(path, chunks, fsync=self.fsync)
        return path

    def quarantine_target(self, path: Path) -> Path:
        """Where ``quarantine_file`` puts a spooled file: known before the move, so the row that
        points at it can be committed first."""
        return self.quarantine_dir / path.name

    def quarantine_file(self, path: Path) -> Path:
        """Move a spooled file into quarantine (same filesystem: a rename).

        Safe to repeat: when the file was moved already (a rerun after a crash), the kept copy is
        returned.
        """
        target = self.quarantine_target(path)
        try:
            os.replace(path, target)
        except FileNotFoundError:
            if not target.exists():
                raise
        return target

    def own(self, path_text: str) -> Path:
        """The spooled file a task message names, confined to this spool's folder.

        A message is data from the broker: a forged or corrupted one must not make a worker read,
        move or delete another file (``../destinations/...``, an absolute path, a symlink out)."""
        path = Path(path_text)
        if not _SPOOL_NAME.fullmatch(path.name):
            raise ForeignSpoolPath("the task names a file outside the spool")
        # The folder exactly as this spool names it needs no resolving (what our listener writes);
        # any other spelling is resolved and compared.
        if str(path.parent) not in self._dir_texts and path.parent.resolve() != self._resolved_dir:
            raise ForeignSpoolPath("the task names a file outside the spool")
        if path.is_symlink():
            raise ForeignSpoolPath("the task names a symbolic link in the spool")
        return self._resolved_dir / path.name

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    def stale_files(self, older_than_seconds: float, *, now: float | None = None) -> list[Path]:
        """Spooled files no worker finished in time (their task was lost): oldest first."""
        limit = (now if now is not None else time.time()) - older_than_seconds
        stale = []
        for entry in os.scandir(self.spool_dir):
            if entry.name.endswith(".dcm") and entry.stat().st_mtime < limit:
                stale.append(Path(entry.path))
        return sorted(stale)


def ingest_spool(settings: Settings) -> Spool:
    """The spool as ingest uses it (listener, STOW-RS, sources): it refuses when the disk is full."""
    room = DiskRoom(settings.data_path, settings.disk_low_watermark_bytes, settings.disk_high_watermark_bytes)
    return Spool(
        settings.spool_dir,
        settings.quarantine_dir,
        fsync=settings.spool_fsync,
        room=room,
        max_instance_bytes=settings.max_instance_bytes,
        slots=settings.spool_slots,
    )


def dataset_digest(part10: bytes) -> str:
    """sha256 of the dataset in a Part 10 file we wrote, File Meta excluded: two arrivals of the same
    content from different senders (other AE titles in the meta) hash alike."""
    # After the preamble, (0002,0000) UL in explicit VR little endian: 8 bytes of header, 4 of value.
    start = len(PREAMBLE) + 12 + int.from_bytes(part10[len(PREAMBLE) + 8 : len(PREAMBLE) + 12], "little")
    return hashlib.sha256(memoryview(part10)[start:]).hexdigest()
