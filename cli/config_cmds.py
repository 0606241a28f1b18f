"""``axiom apply`` and ``axiom get``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
import yaml

from axiom.admin.apply_config import ConfigFileError, apply_config, load_config_file
from axiom.admin.config_dump import (
    dump_crosswalks,
    dump_destinations,
    dump_peers,
    dump_rulesets,
    dump_sources,
)
from axiom.config import Settings
from axiom.domain.masking import mask_secrets
from cli.db_sessions import open_sessions

# What `axiom get KIND` prints, under the top-level key of the config file (so the output applies back).
KINDS = {
    "destinations": ("destinations", dump_destinations),
    "rules": ("rulesets", dump_rulesets),
    "rulesets": ("rulesets", dump_rulesets),
    "crosswalks": ("crosswalks", dump_crosswalks),
    "sources": ("sources", dump_sources),
    "peers": ("peers", dump_peers),
}


def run_apply(settings: Settings, file: Path) -> int:
    try:
        config = load_config_file(file)
        with open_sessions(settings)() as session:
            result = apply_config(session, config, actor="cli")
            session.commit()
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    typer.echo(str(result))
    return 0


def run_get(settings: Settings, kind: str, output: str, *, show_secrets: bool = False) -> int:
    """Credentials are masked as the API masks them, unless ``show_secrets`` (for a backup to apply)."""
    if kind not in KINDS:
        typer.echo(f"error: unknown kind {kind!r}; use one of {', '.join(KINDS)}", err=True)
        return 2
    key, dump = KINDS[kind]
    with open_sessions(settings)() as session:
        items = dump(session)
    if not show_secrets:
        items = mask_secrets(items)
    if output == "json":
        typer.echo(json.dumps({key: items}, indent=2, default=str))
    else:
        typer.echo(yaml.safe_dump({key: items}, sort_keys=False))
    return 0
