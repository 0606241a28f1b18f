"""Engines, sessions and schema upgrades for SQLite (embedded) and PostgreSQL (distributed)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.errors import without_row_values
from axiom.db.migrate import alembic_config

SQLITE_BUSY_TIMEOUT_MS = 30_000
# Execution option of a transaction whose commit must survive a power cut before a file it covers is
# removed (see ``make_durable``).
DURABLE = "axiom_durable"
# Any fixed 64-bit key: every Axiom process that upgrades the schema takes this one lock.
MIGRATION_LOCK_KEY = 0x41_58_49_4F_4D_00_DB_01
# Alembic keeps its running environment in module globals, so two threads of one process must not
# migrate at once; the database locks below cover other processes.
_MIGRATION_THREAD_LOCK = threading.Lock()


def make_engine(url: str, **options: Any) -> Engine:
    """Every engine Axiom makes comes from here: ``hide_parameters`` keeps bound values (patient
    IDs, names, crosswalk keys) out of the message of a failed statement and out of SQL logging, and
    ``without_row_values`` drops the row values PostgreSQL quotes in an error's DETAIL."""
    engine = create_engine(url, hide_parameters=True, **options)
    event.listen(engine, "handle_error", without_row_values)
    return engine


def create_db_engine(url: str) -> Engine:
    """An engine for ``url``; on SQLite also creates the file's folder and sets up safe concurrency."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return make_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = make_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control from the sqlite3 module (it skips BEGIN before SELECT and SAVEPOINT,
    # which breaks savepoints); _sqlite_on_begin emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL mode is kept in the database file: set once, then only read. Several processes opening
    a new database together (``axiom up``'s roles) race to set it, and the switch can answer
    "database is locked" without waiting for the busy timeout: try again for a few seconds."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _sqlite_on_begin(conn: Connection) -> None:
    # synchronous=NORMAL in WAL mode survives a crash of the process but may lose the last commits
    # in a power cut; a durable transaction (make_durable) commits with FULL, whose fsync of the WAL
    # also makes every earlier commit durable. The level cannot change inside a transaction.
    level = "FULL" if conn.get_execution_options().get(DURABLE) else "NORMAL"
    info = conn.connection.info
    if info.get("synchronous") != level:
        conn.exec_driver_sql(f"PRAGMA synchronous={level}")
        info["synchronous"] = level
    # IMMEDIATE takes the write lock up front. A deferred transaction that reads and then writes
    # fails at once with SQLITE_BUSY (busy_timeout does not apply) when another process wrote in
    # between - the normal case with several workers. Readers in WAL mode are never blocked.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_durable(session: Session) -> None:
    """Make the session's coming transaction durable against a power cut when it commits (SQLite:
    synchronous=FULL; PostgreSQL commits are durable already). Call it before the first statement,
    for the commit that precedes removing a file the committed rows now cover (a spooled instance)."""
    session.connection(execution_options={DURABLE: True})


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: services hand committed rows to callers (API responses, task results)
    # after the session is closed.
    return sessionmaker(bind=engine, expire_on_commit=False)


def upgrade_database(url: str) -> None:
    """Bring the schema to the newest revision; a no-op when it is there already.

    Safe to call on every start, by several processes at once: PostgreSQL starts queue on an
    advisory lock, SQLite ones on the write lock that the migration transaction takes.
    """
    engine = create_db_engine(url)
    try:
        with _MIGRATION_THREAD_LOCK, engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                conn.commit()
            try:
                command.upgrade(alembic_config(connection=conn), "head")
                conn.commit()
            finally:
                if postgres:
                    conn.rollback()
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                    conn.commit()
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The schema revision stored in the database; None for an empty database."""
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
