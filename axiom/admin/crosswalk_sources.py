"""Reading a crosswalk's source (CSV file or SQL query) into a key -> value dict.

Errors name the file, column, row number or SQLSTATE, never a key or value: entries may be patient
identifiers, and the error is stored and shown to admins.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import Connection, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from axiom.db.models import CROSSWALK_KEY_LENGTH
from axiom.db.session import make_engine
from axiom.domain.crosswalks import CrosswalkSource, CsvSource, SqlSource
from axiom.domain.masking import mask_url

# How each database is told that the crosswalk's query may not write (the "SELECT" text check is
# only a hint: `WITH d AS (DELETE ... RETURNING ...) SELECT ...` starts with WITH).
_READ_ONLY = {
    "postgresql": "SET TRANSACTION READ ONLY",
    "sqlite": "PRAGMA query_only = ON",
    "mysql": "SET SESSION TRANSACTION READ ONLY",
    "mariadb": "SET SESSION TRANSACTION READ ONLY",
    "oracle": "SET TRANSACTION READ ONLY",
}


class SourceError(Exception):
    """The source could not be read; the message is safe to store and show (no values)."""


def read_source(source: CrosswalkSource) -> dict[str, str]:
    if isinstance(source, CsvSource):
        return read_csv(source)
    return read_sql(source)


class _Collector:
    def __init__(self) -> None:
        self.entries: dict[str, str] = {}
        self._rows: dict[str, int] = {}

    def add(self, row: int, key: object, value: object) -> None:
        if key is None or value is None:  # a NULL in SQL, a short row in a CSV file
            raise SourceError(f"row {row}: no {'key' if key is None else 'value'}")
        key_text, value_text = str(key).strip(), str(value).strip()
        if not key_text:
            raise SourceError(f"row {row}: empty key")
        if len(key_text) > CROSSWALK_KEY_LENGTH:
            raise SourceError(f"row {row}: key longer than {CROSSWALK_KEY_LENGTH} characters")
        first = self._rows.setdefault(key_text, row)
        if first != row:
            raise SourceError(f"row {row}: same key as row {first}")
        self.entries[key_text] = value_text


def read_csv(source: CsvSource) -> dict[str, str]:
    """Rows are numbered as in a spreadsheet: the header is row 1."""
    path = Path(source.csv)
    collector = _Collector()
    try:
        with path.open(encoding=source.encoding, newline="") as handle:
            reader = csv.DictReader(handle, delimiter=source.delimiter)
            header = reader.fieldnames or []
            for column in (source.key_column, source.value_column):
                if column not in header:
                    raise SourceError(f"{path}: no column {column!r} in the header row")
            for number, row in enumerate(reader, start=2):
                collector.add(number, row.get(source.key_column), row.get(source.value_column))
    except FileNotFoundError:
        raise SourceError(f"{path}: file not found") from None
    except UnicodeDecodeError:
        raise SourceError(f"{path}: not {source.encoding} text") from None
    except csv.Error as exc:
        raise SourceError(
            f"{path}: CSV format error on line {reader.line_num}: {type(exc).__name__}"
        ) from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file: {exc.strerror or type(exc).__name__}") from None
    except SourceError as exc:
        if str(exc).startswith("row "):
            raise SourceError(f"{path}: {exc}") from None
        raise
    return collector.entries


def _read_only(conn: Connection, where: str) -> None:
    """Make the connection's transaction read-only before the query runs; refuse other databases."""
    statement = _READ_ONLY.get(conn.dialect.name)
    if statement is None:
        raise SourceError(
            f"{where}: {conn.dialect.name} has no read-only transaction Axiom knows how to start; "
            f"use PostgreSQL, MySQL/MariaDB, Oracle or SQLite"
        )
    conn.exec_driver_sql(statement)


def read_sql(source: SqlSource) -> dict[str, str]:
    """Run the query in a read-only transaction (rolled back), as one statement, and collect its rows."""
    url = source.sql.url
    try:
        make_url(url)
    except Exception:  # an unparsable URL must not be echoed: it may hold a password
        raise SourceError("the SQL url is not a valid SQLAlchemy URL") from None
    where = mask_url(url)
    collector = _Collector()
    try:
        engine = make_engine(url, poolclass=NullPool)
    except Exception as exc:  # e.g. a missing driver: name the kind only
        raise SourceError(f"{where}: cannot open: {type(exc).__name__}") from None
    try:
        with engine.connect() as conn:
            _read_only(conn, where)
            # A server-side cursor where the driver has one: PostgreSQL then refuses a second
            # statement after a semicolon (no "SELECT ...; COMMIT; DELETE ...") and streams the rows.
            result = conn.execution_options(stream_results=True).execute(text(source.sql.query))
            if len(result.keys()) != 2:
                raise SourceError(
                    f"{where}: the query returns {len(result.keys())} columns, not 2 (key, value)"
                )
            for number, (key, value) in enumerate(result, start=1):
                collector.add(number, key, value)
    except SQLAlchemyError as exc:
        # The class and SQLSTATE only: a driver message can quote the offending value.
        state = getattr(getattr(exc, "orig", None), "sqlstate", None)
        detail = type(getattr(exc, "orig", None) or exc).__name__ + (f" (SQLSTATE {state})" if state else "")
        raise SourceError(f"{where}: query failed: {detail}") from None
    except SourceError as exc:
        if str(exc).startswith("row "):
            raise SourceError(f"{where}: result {exc}") from None
        raise
    finally:
        engine.dispose()
    return collector.entries


__all__ = ["SourceError", "read_csv", "read_source", "read_sql"]
