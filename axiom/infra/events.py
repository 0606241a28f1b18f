"""Live events (instance received / routed / delivered / failed) for the monitoring WebSocket.

An event is a small JSON object: its kind, a UTC timestamp, UIDs, the correlation id, a destination
name and a status; never a patient value. Publishing is best effort: a lost event never fails an
instance. With ``AXIOM_CACHE_URL`` set the events go through Redis pub/sub (every process on every
host); without it (the embedded set-up, one host) each process appends a JSON line to
``<data_dir>/events/events.jsonl``, which the API follows like ``tail -f``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from axiom.config import Settings

log = structlog.get_logger("axiom.events")

CHANNEL = "axiom:events"
# Kinds, in the order an instance goes through them.
RECEIVED = "instance.received"
ROUTED = "instance.routed"
DELIVERED = "instance.delivered"
FAILED = "instance.failed"
# The events file is started afresh past this size (followers reopen it).
MAX_FILE_BYTES = 16 * 1024 * 1024
# Seconds a process stops publishing events after Redis failed to take one.
REDIS_RETRY_SECONDS = 10.0


class EventSink(Protocol):
    def emit(self, kind: str, **fields: Any) -> None: ...


def encode(kind: str, fields: dict[str, Any]) -> str:
    event = {"event": kind, "ts": datetime.now(UTC).isoformat(), **fields}
    return json.dumps(event, separators=(",", ":"), default=str)


class NullEvents:
    def emit(self, kind: str, **fields: Any) -> None:
        return None


class RedisEvents:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.channel = channel
        self._down_until = 0.0

    def emit(self, kind: str, **fields: Any) -> None:
        # After a failure, events are dropped for a while instead of making every instance wait
        # for a connect timeout while Redis is down.
        if time.monotonic() < self._down_until:
            return
        try:
            self.client.publish(self.channel, encode(kind, fields))
        except Exception as exc:
            self._down_until = time.monotonic() + REDIS_RETRY_SECONDS
            log.warning("events not published for a while", kind=kind, error=type(exc).__name__)


class FileEvents:
    """Appends one line per event with O_APPEND: whole lines from several processes never interleave."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def emit(self, kind: str, **fields: Any) -> None:
        line = (encode(kind, fields) + "\n").encode()
        try:
            with contextlib.suppress(FileNotFoundError):
                if self.path.stat().st_size > MAX_FILE_BYTES:
                    os.replace(self.path, self.path.with_suffix(".jsonl.1"))
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            log.debug("event not written", kind=kind, error=type(exc).__name__)


def events_file(settings: Settings) -> Path:
    return settings.data_path / "events" / "events.jsonl"


def make_events(settings: Settings) -> EventSink:
    if settings.cache_url:
        return RedisEvents(settings.cache_url)
    return FileEvents(events_file(settings))


class Subscription(Protocol):
    def poll(self, timeout: float) -> list[dict[str, Any]]:
        """Events that arrived since the last call, waiting up to ``timeout`` seconds for one."""
        ...

    def close(self) -> None: ...


class RedisSubscription:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=2)
        self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(channel)

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        message = self.pubsub.get_message(timeout=timeout)
        while message is not None:
            if message.get("type") == "message":
                events.append(json.loads(message["data"]))
            message = self.pubsub.get_message(timeout=0)
        return events

    def close(self) -> None:
        self.pubsub.close()
        self.client.close()


class FileSubscription:
    """Follows the events file from its current end (new events only), across a rotation."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
        self._file = path.open("rb")
        self._file.seek(0, os.SEEK_END)
        self._inode = os.fstat(self._file.fileno()).st_ino
        self._partial = b""

    def _read(self) -> list[dict[str, Any]]:
        data = self._partial + self._file.read()
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
        if not events:
            with contextlib.suppress(FileNotFoundError):
                if os.stat(self.path).st_ino != self._inode:  # rotated: start the new file
                    self._file.close()
                    self._file = self.path.open("rb")
                    self._inode = os.fstat(self._file.fileno()).st_ino
                    self._partial = b""
        return events

    def poll(self, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            events = self._read()
            if events or time.monotonic() >= deadline:
                return events
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def close(self) -> None:
        self._file.close()


def subscribe(settings: Settings) -> Subscription:
    if settings.cache_url:
        return RedisSubscription(settings.cache_url)
    return FileSubscription(events_file(settings))
