"""``axiom apply`` and ``axiom get``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml
from sqlalchemy.orm import Session, sessionmaker

from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.services.apply_config import (
    ConfigFileError,
    apply_config,
    dump_destinations,
    dump_rulesets,
    load_config_file,
)


def _sessions(settings: Settings) -> sessionmaker[Session]:
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    return make_session_factory(create_db_engine(settings.effective_database_url))


def run_apply(settings: Settings, file: Path) -> int:
    try:
        config = load_config_file(file)
        with _sessions(settings)() as session:
            result = apply_config(session, config, actor="cli")
            session.commit()
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    typer.echo(str(result))
    return 0


def run_get(settings: Settings, kind: str, output: str) -> int:
    dumpers = {"destinations": dump_destinations, "rules": dump_rulesets, "rulesets": dump_rulesets}
    if kind not in dumpers:
        typer.echo(f"error: unknown kind {kind!r}; use destinations or rules", err=True)
        return 2
    with _sessions(settings)() as session:
        items = dumpers[kind](session)
    key = "destinations" if kind == "destinations" else "rulesets"
    if output == "json":
        typer.echo(json.dumps({key: items}, indent=2, default=str))
    else:
        typer.echo(yaml.safe_dump({key: items}, sort_keys=False))
    return 0
