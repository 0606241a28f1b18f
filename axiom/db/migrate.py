"""Alembic configured in code, so migrations run from an installed package without alembic.ini.

For a new revision during development::

    from alembic import command
    command.revision(alembic_config("sqlite:///dev.sqlite"), message="...", autogenerate=True)
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None, *, connection: Connection | None = None) -> Config:
    """A Config for ``url``, or for an open ``connection`` (which env.py then uses as it is)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The URL travels as an attribute, not a main option: configparser would read '%' in a
    # password as interpolation.
    config.attributes["url"] = url
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migration scripts under {MIGRATIONS_DIR}")
    return head
