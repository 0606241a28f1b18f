"""``CrosswalkLookup.lookup(table, key)``: the callable the rule engine's crosswalk action uses.

Cache keys carry the table's generation, which a sync moves whenever it changes the entries, so a
changed table is never served from the cache. Generations are re-read at most every
``check_seconds`` (one small query); keys are hashed, so cache key names hold no identifiers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.config import Settings
from axiom.db.repositories import crosswalks as repo
from axiom.infra.crosswalk_cache import LookupCache, make_cache

_FOUND = "="  # cached value prefix; a bare _MISSING caches "no such key"
_MISSING = "-"


class CrosswalkLookup:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        cache: LookupCache,
        *,
        check_seconds: float = 1.0,
        namespace: str = "axiom:xw",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._cache = cache
        self._check_seconds = check_seconds
        self._namespace = namespace
        self._clock = clock
        self._generations: dict[str, int] = {}
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> CrosswalkLookup:
        cache = make_cache(
            settings.cache_url,
            max_entries=settings.crosswalk_cache_size,
            ttl_seconds=settings.crosswalk_cache_ttl_seconds,
        )
        return cls(sessions, cache, check_seconds=settings.config_check_seconds)

    def lookup(self, table: str, key: str) -> str | None:
        """The value for ``key`` in crosswalk ``table``; None when the table has no such key.

        UnknownCrosswalk when no crosswalk is named ``table``.
        """
        generation = self._generation(table)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        cache_key = f"{self._namespace}:{table}:{generation}:{digest}"
        cached = self._cache.get(cache_key)
        if cached is not None:
            return cached[len(_FOUND) :] if cached.startswith(_FOUND) else None
        with self._sessions() as session:
            value = repo.lookup_entry(session, table, key)
        self._cache.set(cache_key, _MISSING if value is None else _FOUND + value)
        return value

    __call__ = lookup

    def refresh(self) -> None:
        """Re-read every table's generation now (rather than within ``check_seconds``)."""
        with self._sessions() as session:
            generations = repo.generations(session)
        with self._lock:
            self._generations = generations
            self._checked_at = self._clock()

    def _generation(self, table: str) -> int:
        checked_at = self._checked_at
        if checked_at is None or self._clock() - checked_at >= self._check_seconds:
            self.refresh()
        generation = self._generations.get(table)
        if generation is None:
            self.refresh()  # a crosswalk created since the last check
            generation = self._generations.get(table)
        if generation is None:
            raise UnknownCrosswalk(f"no crosswalk named {table!r}")
        return generation

    def close(self) -> None:
        self._cache.close()


__all__ = ["CrosswalkLookup"]
