"""Fixtures for the unit tests: databases (tests/unit/db/databases.py) and a clean Redis database."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from tests.support.services import require, tcp_open
from tests.unit.db.databases import empty_db_url, engine, migrated_db_url, session, sessions

__all__ = ["empty_db_url", "engine", "migrated_db_url", "redis_url", "session", "sessions"]

# Database 9, or 9 + N for pytest-xdist's worker gwN: parallel workers never flush each other's keys.
REDIS_URL = (
    f"redis://127.0.0.1:6379/{9 + int(os.environ.get('PYTEST_XDIST_WORKER', 'gw0').removeprefix('gw'))}"
)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The local Redis, database 9, emptied before and after the test."""
    require("Redis", tcp_open("127.0.0.1", 6379), "nothing listens on 127.0.0.1:6379")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()
