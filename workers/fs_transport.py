"""kombu's filesystem transport, with messages that appear whole and are claimed by one consumer.

kombu writes a message file under its final name and then fills it, so a consumer polling the folder
can read it empty (kombu issue #1551: ``JSONDecodeError`` in ``_get``, and the message is lost).
Here a message is written under a hidden temporary name and renamed into place, and a consumer
claims a message by renaming it into the processed folder (same filesystem, so the rename is atomic
and only one consumer wins) before reading it.
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


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = Path(self.data_folder_out) / name
        # A leading dot: never matches a queue's '<queue>.msg' suffix, so consumers skip it.
        temp = final.with_name(f".{name}.tmp")
        try:
            temp.write_bytes(dumps(payload).encode("utf-8"))
            os.replace(temp, final)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise ChannelError(f"cannot add a message for queue {queue!r}") from exc

    def _get(self, queue: str, timeout: Any = None) -> Any:
        wanted = f"{queue}.msg"
        claimed_dir = Path(self.processed_folder)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            claimed = claimed_dir / name
            try:
                os.rename(Path(self.data_folder_in) / name, claimed)
            except FileNotFoundError:
                continue  # another consumer claimed it first
            try:
                payload = claimed.read_bytes()
            finally:
                claimed.unlink(missing_ok=True)
            return loads(payload.decode("utf-8"))
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel
