"""Crosswalks as configured: a named lookup table, where its rows come from, and how often to sync.

A source is a CSV file (two of its columns) or a SQL query on any SQLAlchemy URL returning
``key, value`` rows. The YAML form::

    crosswalks:
      - name: site-codes
        source: {csv: /etc/axiom/sites.csv, key_column: code, value_column: institution}
        sync_seconds: 3600
      - name: mrn-map
        source: {sql: {url: "postgresql+psycopg://ris@ris/ris", query: "SELECT old, new FROM mrn"}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, field_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
DEFAULT_SYNC_SECONDS = 3600.0


class _Model(BaseModel):
    # Inputs stay out of error messages: a URL may carry a password.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class CsvSource(_Model):
    csv: str = Field(min_length=1, description="path of the CSV file (relative: to the config file)")
    key_column: str = Field(min_length=1)
    value_column: str = Field(min_length=1)
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8-sig"  # accepts the byte-order mark spreadsheet programs write

    def resolved(self, base_dir: Path) -> CsvSource:
        """This source with a relative path made absolute against ``base_dir``."""
        path = Path(self.csv).expanduser()
        if path.is_absolute():
            return self
        return self.model_copy(update={"csv": str((base_dir / path).resolve())})


class SqlQuery(_Model):
    url: str = Field(min_length=1, description="SQLAlchemy URL")
    query: str = Field(min_length=1, description="a SELECT returning two columns: key, value")

    @field_validator("query")
    @classmethod
    def _select_only(cls, query: str) -> str:
        first = query.lstrip().split(None, 1)[0].upper() if query.strip() else ""
        if first not in {"SELECT", "WITH"}:
            raise ValueError("the query must be a SELECT (or WITH ... SELECT) returning key, value")
        return query


class SqlSource(_Model):
    sql: SqlQuery


CrosswalkSource = CsvSource | SqlSource


class CrosswalkConfig(_Model):
    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    source: CrosswalkSource
    # How often Beat re-reads the source; Beat itself looks for due crosswalks every
    # ``Settings.crosswalk_sync_seconds``.
    sync_seconds: PositiveFloat = DEFAULT_SYNC_SECONDS

    def resolved(self, base_dir: Path) -> CrosswalkConfig:
        if isinstance(self.source, CsvSource):
            return self.model_copy(update={"source": self.source.resolved(base_dir)})
        return self


__all__ = [
    "DEFAULT_SYNC_SECONDS",
    "CrosswalkConfig",
    "CrosswalkSource",
    "CsvSource",
    "SqlQuery",
    "SqlSource",
]
