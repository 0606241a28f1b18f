"""Real databases for the DB tests: a SQLite file and a fresh PostgreSQL database per backend.

PostgreSQL databases are created through ``AXIOM_TEST_POSTGRES_URL`` (default: the local ``test``
database as ``postgres``) and dropped afterwards. Without a reachable server the PostgreSQL cases
skip, or fail when ``CI=true`` (tests.support.services.require).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.base import Base
from axiom.db.models import CONFIG_STATE_ID
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from tests.support.postgres import fresh_postgres_database
from tests.support.services import require

BACKENDS = ("sqlite", "postgresql")
ADMIN_URL = os.environ.get("AXIOM_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@functools.cache
def _postgres_problem() -> str | None:
    engine = create_engine(ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        return f"cannot connect to {make_url(ADMIN_URL).render_as_string(hide_password=True)}: {exc.orig}"
    finally:
        engine.dispose()
    return None


@contextmanager
def fresh_database(backend: str, folder: Path) -> Iterator[str]:
    """The URL of a new, empty database, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'axiom.sqlite'}"
        return
    problem = _postgres_problem()
    require("PostgreSQL", problem is None, problem or "")
    with fresh_postgres_database(ADMIN_URL, prefix="axiom_t") as url:
        yield url


def clear_database(engine: Engine) -> None:
    """Empty every table and reset the config version: a migrated database as new, but faster."""
    kept = {"config_state", "schedule_state"}  # the one-row markers: reset, not deleted
    tables = [t for t in reversed(Base.metadata.sorted_tables) if t.name not in kept]
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(t.name for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:
                conn.execute(table.delete())
        conn.execute(text("UPDATE config_state SET version = 0 WHERE id = :id"), {"id": CONFIG_STATE_ID})
        conn.execute(text("UPDATE schedule_state SET version = 0 WHERE id = :id"), {"id": CONFIG_STATE_ID})


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new database with no schema, one per test."""
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A database at the newest revision, shared by the tests of one backend."""
    with fresh_database(request.param, tmp_path_factory.mktemp(f"db-{request.param}")) as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def engine(migrated_db_url: str) -> Iterator[Engine]:
    engine = create_db_engine(migrated_db_url)
    clear_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session
