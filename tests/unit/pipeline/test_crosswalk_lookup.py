"""CrosswalkLookup through the in-process LRU and through real Redis: hits come from the cache, and
a sync that changes the table is seen at the next generation check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import apply_config, parse_config
from axiom.admin.crosswalks import UnknownCrosswalk, sync_crosswalk
from axiom.config import Settings
from axiom.db.models import CrosswalkEntry
from axiom.infra.crosswalk_cache import LookupCache, MemoryCache, RedisCache, make_cache
from axiom.pipeline.crosswalk_lookup import CrosswalkLookup


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[LookupCache]:
    if request.param == "memory":
        yield MemoryCache(100)
        return
    made = RedisCache(request.getfixturevalue("redis_url"), ttl_seconds=60)
    yield made
    made.close()


def _write_csv(path: Path, rows: dict[str, str]) -> None:
    lines = ["code,institution", *(f"{k},{v}" for k, v in rows.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def sites(sessions: sessionmaker[Session], tmp_path: Path) -> Path:
    path = tmp_path / "sites.csv"
    _write_csv(path, {"A1": "North", "B2": "Süd"})
    source = {"csv": str(path), "key_column": "code", "value_column": "institution"}
    with sessions() as session:
        apply_config(session, parse_config({"crosswalks": [{"name": "sites", "source": source}]}), actor="t")
        session.commit()
    assert sync_crosswalk(sessions, "sites").ok
    return path


def _delete_entries_behind_the_cache(sessions: sessionmaker[Session]) -> None:
    """Remove the rows without a sync (the generation stays): only a cache can still answer."""
    with sessions() as session:
        session.execute(CrosswalkEntry.__table__.delete())
        session.commit()
        assert session.scalar(select(CrosswalkEntry.key)) is None


def test_lookup_is_served_from_the_cache(
    sessions: sessionmaker[Session], sites: Path, cache: LookupCache
) -> None:
    lookup = CrosswalkLookup(sessions, cache, check_seconds=60, clock=Clock())
    assert lookup.lookup("sites", "A1") == "North"
    assert lookup("sites", "B2") == "Süd"
    assert lookup.lookup("sites", "ZZ") is None

    _delete_entries_behind_the_cache(sessions)

    assert lookup.lookup("sites", "A1") == "North"
    assert lookup.lookup("sites", "B2") == "Süd"
    assert lookup.lookup("sites", "ZZ") is None  # the miss was cached too
    assert lookup.lookup("sites", "C3") is None  # never looked up: read from the database


def test_resync_invalidates_at_the_next_check(
    sessions: sessionmaker[Session], sites: Path, cache: LookupCache
) -> None:
    clock = Clock()
    lookup = CrosswalkLookup(sessions, cache, check_seconds=5, clock=clock)
    assert lookup.lookup("sites", "A1") == "North"
    assert lookup.lookup("sites", "C3") is None

    _write_csv(sites, {"A1": "Nord", "C3": "East"})
    assert sync_crosswalk(sessions, "sites").changed

    clock.now = 4.9  # within the check interval the cached generation still answers
    assert lookup.lookup("sites", "A1") == "North"
    clock.now = 5.0
    assert lookup.lookup("sites", "A1") == "Nord"
    assert lookup.lookup("sites", "C3") == "East"
    assert lookup.lookup("sites", "B2") is None


def test_redis_cache_is_shared_between_lookups(
    sessions: sessionmaker[Session], sites: Path, redis_url: str
) -> None:
    # Two workers: what one cached, the other reads, even after the rows are gone.
    first = CrosswalkLookup(sessions, RedisCache(redis_url, 60))
    second = CrosswalkLookup(sessions, RedisCache(redis_url, 60))
    assert first.lookup("sites", "A1") == "North"
    _delete_entries_behind_the_cache(sessions)
    assert second.lookup("sites", "A1") == "North"
    # Key names hold no identifier: the key is hashed.
    client = redis.Redis.from_url(redis_url)
    names = [k.decode() for k in client.keys("*")]
    client.close()
    assert names and all(n.startswith("axiom:xw:sites:1:") and "A1" not in n for n in names)
    first.close()
    second.close()


def test_unavailable_redis_falls_back_to_the_database(sessions: sessionmaker[Session], sites: Path) -> None:
    lookup = CrosswalkLookup(sessions, RedisCache("redis://127.0.0.1:1/0", 60))
    assert lookup.lookup("sites", "A1") == "North"


def test_unknown_crosswalk(sessions: sessionmaker[Session], sites: Path) -> None:
    lookup = CrosswalkLookup(sessions, MemoryCache(10))
    with pytest.raises(UnknownCrosswalk):
        lookup.lookup("nope", "A1")


def test_memory_cache_evicts_least_recently_used() -> None:
    cache = MemoryCache(2)
    cache.set("a", "1")
    cache.set("b", "2")
    assert cache.get("a") == "1"
    cache.set("c", "3")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("1", None, "3")
    assert len(cache) == 2


def test_settings_pick_the_cache(redis_url: str) -> None:
    assert isinstance(make_cache(Settings(cache_url="").cache_url, max_entries=5, ttl_seconds=1), MemoryCache)
    assert isinstance(
        make_cache(Settings(cache_url=redis_url).cache_url, max_entries=5, ttl_seconds=1), RedisCache
    )
