"""Caches for crosswalk lookups: an in-process LRU, or Redis shared by every worker.

Both store opaque strings under keys the caller builds; a cache that fails answers "not cached"
so lookups fall back to the database instead of failing the routing.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict

import redis

log = logging.getLogger(__name__)


class LookupCache(ABC):
    @abstractmethod
    def get(self, key: str) -> str | None:
        """The cached string, or None when not cached."""

    @abstractmethod
    def set(self, key: str, value: str) -> None: ...

    def close(self) -> None:  # noqa: B027 - most caches hold nothing to release
        """Release connections."""


class MemoryCache(LookupCache):
    """Least-recently-used eviction beyond ``max_entries``; safe for a worker's threads."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class RedisCache(LookupCache):
    """Entries expire after ``ttl_seconds``: keys of an old generation are never read again."""

    def __init__(self, url: str, ttl_seconds: float) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._ttl_ms = max(1, int(ttl_seconds * 1000))

    def get(self, key: str) -> str | None:
        try:
            value = self._client.get(key)
        except redis.RedisError as exc:
            log.warning("crosswalk cache unavailable, reading the database: %s", type(exc).__name__)
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else None

    def set(self, key: str, value: str) -> None:
        try:
            self._client.set(key, value.encode("utf-8"), px=self._ttl_ms)
        except redis.RedisError as exc:
            log.warning("crosswalk cache unavailable, not caching: %s", type(exc).__name__)

    def close(self) -> None:
        self._client.close()


def make_cache(cache_url: str, *, max_entries: int, ttl_seconds: float) -> LookupCache:
    """Redis when ``cache_url`` is set (``Settings.cache_url``), else an in-process LRU."""
    if cache_url:
        return RedisCache(cache_url, ttl_seconds)
    return MemoryCache(max_entries)


__all__ = ["LookupCache", "MemoryCache", "RedisCache", "make_cache"]
