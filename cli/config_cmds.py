"""``axiom get`` on this host's database (local mode); apply and the other verbs: cli/config_verbs.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from cli.config_files import UnknownKind, kind_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from axiom.config import Settings


def dumps() -> dict[str, Callable[[Session], list[dict[str, Any]]]]:
    """Each kind's read-back in the file form."""
    from axiom.admin import config_dump

    return {
        "destinations": config_dump.dump_destinations,
        "rulesets": config_dump.dump_rulesets,
        "crosswalks": config_dump.dump_crosswalks,
        "sources": config_dump.dump_sources,
        "peers": config_dump.dump_peers,
    }


def run_get(
    settings: Settings, kind: str, output: str, *, name: str | None = None, show_secrets: bool = False
) -> int:
    """Credentials are masked as the API masks them, unless ``show_secrets`` (for a backup to apply)."""
    from axiom.domain.masking import mask_secrets
    from cli.config_verbs import check_output, print_items
    from cli.db_sessions import open_sessions

    check_output(output)
    try:
        key = kind_key(kind)
    except UnknownKind as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    with open_sessions(settings)() as session:
        items = dumps()[key](session)
    if name is not None:
        items = [item for item in items if item.get("name") == name]
        if not items:
            typer.echo(f"error: no {key.removesuffix('s')} named {name!r}", err=True)
            return 1
    if not show_secrets:
        items = mask_secrets(items)
    print_items(key, items, output)
    return 0
