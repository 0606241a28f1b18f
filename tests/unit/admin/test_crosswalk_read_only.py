"""A crosswalk's SQL query runs in a read-only transaction, as one statement: a query that passes the
"starts with SELECT or WITH" check but writes (``WITH ... DELETE ... RETURNING``) fails and deletes
nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from axiom.admin.crosswalk_sources import SourceError, read_sql
from axiom.domain.crosswalks import SqlQuery, SqlSource
from tests.support.services import require
from tests.unit.db.databases import ADMIN_URL, _postgres_problem


def _source(url: str, query: str) -> SqlSource:
    return SqlSource(sql=SqlQuery(url=url, query=query))


@pytest.fixture
def sqlite_table(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    path = tmp_path / "ris.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE mrn (old TEXT PRIMARY KEY, new TEXT)")
        conn.execute("INSERT INTO mrn VALUES ('M1', 'N1'), ('M2', 'N2')")
    yield f"sqlite:///{path}", path


def test_sqlite_query_that_writes_is_refused(sqlite_table: tuple[str, Path]) -> None:
    url, path = sqlite_table
    assert read_sql(_source(url, "SELECT old, new FROM mrn")) == {"M1": "N1", "M2": "N2"}
    with pytest.raises(SourceError, match="query failed"):
        read_sql(_source(url, "WITH x AS (SELECT 1) DELETE FROM mrn RETURNING old, new"))
    with pytest.raises(SourceError, match="query failed"):
        read_sql(_source(url, "SELECT old, new FROM mrn; DELETE FROM mrn"))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM mrn").fetchone() == (2,)


@pytest.fixture
def postgres_table() -> Iterator[str]:
    problem = _postgres_problem()
    require("PostgreSQL", problem is None, problem or "")
    name = f"xw_ro_{uuid.uuid4().hex[:10]}"
    engine = create_engine(ADMIN_URL)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {name} (old text PRIMARY KEY, new text)"))
        conn.execute(text(f"INSERT INTO {name} VALUES ('M1', 'N1'), ('M2', 'N2')"))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            remaining = conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            conn.execute(text(f"DROP TABLE {name}"))
        engine.dispose()
        assert remaining == 2


def test_postgresql_query_that_writes_is_refused(postgres_table: str) -> None:
    table = postgres_table
    assert read_sql(_source(ADMIN_URL, f"SELECT old, new FROM {table}")) == {"M1": "N1", "M2": "N2"}
    deleting = f"WITH d AS (DELETE FROM {table} RETURNING old, new) SELECT old, new FROM d"
    with pytest.raises(SourceError, match="query failed"):
        read_sql(_source(ADMIN_URL, deleting))
    # A second statement after a semicolon, committing the first transaction, is refused too.
    chained = f"SELECT old, new FROM {table}; COMMIT; DELETE FROM {table}"
    with pytest.raises(SourceError, match="query failed"):
        read_sql(_source(ADMIN_URL, chained))
