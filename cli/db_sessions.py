"""Database sessions for one-shot CLI commands: the schema is brought up to date first."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from cli.context import CLI_ACTOR

__all__ = ["CLI_ACTOR", "open_sessions"]


def open_sessions(settings: Settings) -> sessionmaker[Session]:
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    return make_session_factory(create_db_engine(settings.effective_database_url))
