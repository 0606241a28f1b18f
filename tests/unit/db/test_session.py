"""Engine set-up: SQLite pragmas and transaction control, on a real file."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from axiom.db.session import create_db_engine, make_durable, make_session_factory


def test_sqlite_engine_creates_its_folder_and_sets_pragmas(tmp_path: Path) -> None:
    db_file = tmp_path / "nested" / "dir" / "axiom.sqlite"
    engine = create_db_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            pragmas = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
            }
    finally:
        engine.dispose()
    assert db_file.is_file()
    # synchronous 1 is NORMAL.
    assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000, "synchronous": 1, "foreign_keys": 1}


def test_sqlite_savepoints_are_part_of_the_transaction(tmp_path: Path) -> None:
    # The sqlite3 module's own transaction handling runs SAVEPOINT outside any transaction, so a
    # rolled-back outer transaction would keep released savepoint work; ours must not.
    engine = create_db_engine(f"sqlite:///{tmp_path / 'sp.sqlite'}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v INTEGER)"))
        with engine.connect() as conn:
            outer = conn.begin()
            with conn.begin_nested():
                conn.execute(text("INSERT INTO t VALUES (1)"))
            nested = conn.begin_nested()
            conn.execute(text("INSERT INTO t VALUES (2)"))
            nested.rollback()
            assert conn.execute(text("SELECT v FROM t")).scalars().all() == [1]
            outer.rollback()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        engine.dispose()


def test_sqlite_read_then_write_survives_a_concurrent_writer(tmp_path: Path) -> None:
    # With a deferred BEGIN, a transaction that reads, then sees another process commit, then writes
    # fails at once with "database is locked" (busy_timeout does not apply to that case).
    engine = create_db_engine(f"sqlite:///{tmp_path / 'rw.sqlite'}")
    errors: list[BaseException] = []
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (v INTEGER)"))

        def other_writer() -> None:
            try:
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (2)"))
            except BaseException as exc:  # reported in the test's thread
                errors.append(exc)

        with engine.connect() as conn:
            with conn.begin():
                assert conn.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
                writer = threading.Thread(target=other_writer)
                writer.start()
                writer.join(timeout=0.3)
                conn.execute(text("INSERT INTO t VALUES (1)"))
            writer.join(timeout=30)
        with engine.connect() as conn:
            assert sorted(conn.execute(text("SELECT v FROM t")).scalars()) == [1, 2]
    finally:
        engine.dispose()
    assert errors == []


def test_a_durable_transaction_commits_with_synchronous_full(tmp_path: Path) -> None:
    """What must survive a power cut before a spooled file is removed commits with FULL (2); the
    other transactions keep NORMAL (1), on the same pooled connection."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'durable.sqlite'}")
    sessions = make_session_factory(engine)
    try:
        levels = []
        for durable in (True, False, True):
            with sessions() as session:
                if durable:
                    make_durable(session)
                levels.append(session.execute(text("PRAGMA synchronous")).scalar())
                session.commit()
    finally:
        engine.dispose()
    assert levels == [2, 1, 2]
