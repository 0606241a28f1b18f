"""kombu's filesystem transport, with messages that appear whole, are claimed by one consumer, and
come back when that consumer dies.

kombu writes a message file under its final name and then fills it, so a consumer polling the folder
can read it empty (kombu issue #1551: ``JSONDecodeError`` in ``_get``, and the message is lost).
Here a message is written under a hidden temporary name and renamed into place, and a consumer
claims a message by renaming it into the processed folder (same filesystem, so the rename is atomic
and only one consumer wins) before reading it.

The claimed file stays until the message is acknowledged (or rejected, or restored on a clean
shutdown), and its name carries the claiming process's id: a claim whose process is gone (a killed
worker) is renamed back into the queue by any consumer within ``LEASE_CHECK_SECONDS``, instead of
waiting for the spool sweep. The embedded queue lives on one host, so a process id identifies the
claimant.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.json import dumps, loads

from axiom.dicom.atomic import atomic_write

# How often a consumer looks for claims of dead processes to return to the queue.
LEASE_CHECK_SECONDS = 1.0
_OWNER_SEP = "~"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._claims: dict[str, Path] = {}
        self._lease_checked = 0.0

    def _queue_bind(self, exchange: str, routing_key: str, pattern: str, queue: str) -> None:
        """kombu's bind creates the exchange table with ``open("wb")`` and locks it only after,
        so a second process (two listener processes starting together) can lock and read it empty
        (``JSONDecodeError``). Here the file is created without truncating and read under the lock;
        an empty table is an empty list."""
        file = self._exchange_file(exchange)
        self.control_folder.mkdir(exist_ok=True)
        entry = filesystem.exchange_queue_t(routing_key or "", pattern or "", queue or "")
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        with os.fdopen(fd, "rb+", buffering=0) as f_obj:
            filesystem.lock(f_obj, filesystem.LOCK_EX)
            try:
                text = f_obj.read().decode()
                queues = [filesystem.exchange_queue_t(*q) for q in (loads(text) if text.strip() else [])]
                if entry not in queues:
                    queues.insert(0, entry)
                    f_obj.seek(0)
                    f_obj.truncate()
                    f_obj.write(dumps(queues).encode())
            finally:
                filesystem.unlock(f_obj)

    def get_table(self, exchange: str) -> list[Any]:
        """As kombu's, with a table created but not yet written (see ``_queue_bind``) read as empty."""
        file = self._exchange_file(exchange)
        try:
            with file.open("rb") as f_obj:
                filesystem.lock(f_obj, filesystem.LOCK_SH)
                try:
                    text = f_obj.read().decode()
                finally:
                    filesystem.unlock(f_obj)
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ChannelError(f"Cannot open {file}") from exc
        return [filesystem.exchange_queue_t(*q) for q in (loads(text) if text.strip() else [])]

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = Path(self.data_folder_out) / name
        # Under a temporary name with a leading dot (never a queue's '<queue>.msg' suffix, so
        # consumers skip it), renamed into place; fsynced with its folder before the publisher
        # returns, so a message the listener acknowledged survives a power cut.
        fsync = bool(self.transport_options.get("fsync", True))
        try:
            atomic_write(final, (dumps(payload).encode("utf-8"),), fsync=fsync)
        except OSError as exc:
            raise ChannelError(f"cannot add a message for queue {queue!r}") from exc

    def _get(self, queue: str, timeout: Any = None) -> Any:
        self._return_orphans()
        wanted = f"{queue}.msg"
        claimed_dir = Path(self.processed_folder)
        claimed_dir.mkdir(parents=True, exist_ok=True)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = claimed_dir / f"{os.getpid()}{_OWNER_SEP}{name}"
            try:
                os.rename(Path(self.data_folder_in) / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            payload = loads(claimed.read_bytes().decode("utf-8"))
            tag = payload.get("properties", {}).get("delivery_tag")
            if tag is None:
                claimed.unlink(missing_ok=True)  # nothing could acknowledge it
            else:
                self._claims[tag] = claimed
            return payload
        raise Empty()

    def _return_orphans(self) -> None:
        """Rename the claims of processes that are gone back into the queue folder."""
        now = monotonic()
        if now - self._lease_checked < LEASE_CHECK_SECONDS:
            return
        self._lease_checked = now
        claimed_dir = Path(self.processed_folder)
        if not claimed_dir.is_dir():
            return
        for entry in os.scandir(claimed_dir):
            owner, sep, name = entry.name.partition(_OWNER_SEP)
            if not sep or not owner.isdigit() or _alive(int(owner)):
                continue
            try:
                os.rename(entry.path, Path(self.data_folder_in) / name)
            except FileNotFoundError:
                continue  # another consumer returned it first

    def _release(self, delivery_tag: str) -> None:
        claimed = self._claims.pop(delivery_tag, None)
        if claimed is not None:
            claimed.unlink(missing_ok=True)

    def basic_ack(self, delivery_tag: str, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._release(delivery_tag)

    def basic_reject(self, delivery_tag: str, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # requeue: a new copy is put first
        self._release(delivery_tag)

    def _restore(self, message: Any) -> None:
        super()._restore(message)  # a clean shutdown puts unacknowledged messages back
        self._release(message.delivery_tag)


class Transport(filesystem.Transport):
    Channel = Channel
