"""``axiom apply [--dry-run] [--prune]``, ``diff``, ``delete``, ``get`` and ``describe`` on this host's
database (local mode). cli/remote.py does the same through the API.

A dry run and ``diff`` apply inside a transaction, read the configuration back and roll back, so what
they show is exactly what ``apply`` would store (credentials masked).
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

import typer

from cli.config_files import KINDS, file_items, kind_key, read_config
from cli.context import CLI_ACTOR

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from axiom.config import Settings
    from axiom.domain.config_file import ConfigFile

OUTPUTS = ("yaml", "json", "table")
# Deleting in this order never trips over a reference: rules name destinations, crosswalks, sources.
DELETE_ORDER = ("rulesets", "sources", "crosswalks", "destinations", "peers")


def snapshot(session: Session, kinds: tuple[str, ...] = KINDS) -> dict[str, dict[str, Any]]:
    from axiom.domain.masking import mask_secrets
    from cli.config_cmds import dumps

    return {kind: {item["name"]: mask_secrets(item) for item in dumps()[kind](session)} for kind in kinds}


def render_diff(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> str:
    """A unified diff per changed item, as YAML."""
    import yaml

    out: list[str] = []
    for kind in KINDS:
        old, new = before.get(kind, {}), after.get(kind, {})
        for name in sorted(set(old) | set(new)):
            if old.get(name) == new.get(name):
                continue
            a = yaml.safe_dump(old[name], sort_keys=True).splitlines(keepends=True) if name in old else []
            b = yaml.safe_dump(new[name], sort_keys=True).splitlines(keepends=True) if name in new else []
            label = f"{kind}/{name}"
            out += difflib.unified_diff(a, b, f"a/{label}", f"b/{label}")
    return "".join(out)


def _prune(session: Session, config: ConfigFile, current: dict[str, dict[str, Any]]) -> list[str]:
    """Delete what the file's kinds hold on the server but the file does not name."""
    from axiom.admin import config_edit

    wanted = file_items(config)
    deleted = []
    for kind in DELETE_ORDER:
        if kind not in wanted:
            continue  # a kind the file does not mention is left alone
        for name in sorted(set(current.get(kind, {})) - set(wanted[kind])):
            if kind == "peers":
                raise typer.BadParameter("--prune cannot delete peers yet; remove them from the database")
            delete = getattr(config_edit, f"delete_{kind.removesuffix('s')}")
            delete(session, name, actor=CLI_ACTOR)
            deleted.append(f"{kind}/{name}")
    return deleted


def run_apply(settings: Settings, source: str, *, dry_run: bool = False, prune: bool = False) -> int:
    from axiom.admin.apply_config import ConfigFileError, apply_config
    from cli.db_sessions import open_sessions

    try:
        config = read_config(source)
        with open_sessions(settings)() as session:
            before = snapshot(session)
            result = apply_config(session, config, actor=CLI_ACTOR)
            deleted = _prune(session, config, before) if prune else []
            if dry_run:
                after = snapshot(session)
                session.rollback()
            else:
                session.commit()
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    except (LookupError, ValueError) as exc:  # --prune of something still in use
        typer.echo(f"error: {exc}", err=True)
        return 1
    if dry_run:
        typer.echo(render_diff(before, after) or "no changes", nl=False)
        typer.echo(f"\n(dry run) {result}" + (f"; would delete {', '.join(deleted)}" if deleted else ""))
        return 0
    typer.echo(str(result) + (f"; deleted {', '.join(deleted)}" if deleted else ""))
    return 0


def run_diff(settings: Settings, source: str, *, prune: bool = False) -> int:
    """Like ``kubectl diff``: exit 0 without differences, 1 with, 2 on an error."""
    from axiom.admin.apply_config import ConfigFileError, apply_config
    from cli.db_sessions import open_sessions

    try:
        config = read_config(source)
        with open_sessions(settings)() as session:
            before = snapshot(session)
            apply_config(session, config, actor=CLI_ACTOR)
            if prune:
                _prune(session, config, before)
            after = snapshot(session)
            session.rollback()
    except ConfigFileError as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    text = render_diff(before, after)
    typer.echo(text, nl=False)
    return 1 if text else 0


def run_delete(settings: Settings, kind: str, name: str) -> int:
    from axiom.admin import config_edit
    from cli.db_sessions import open_sessions

    key = kind_key(kind)
    if key == "peers":
        typer.echo("error: peers are deleted by applying a file without them (--prune)", err=True)
        return 2
    with open_sessions(settings)() as session:
        try:
            change = getattr(config_edit, f"delete_{key.removesuffix('s')}")(session, name, actor=CLI_ACTOR)
        except (LookupError, ValueError) as exc:  # none of that name, or still referenced
            typer.echo(f"error: {exc}", err=True)
            return 1
        session.commit()
    typer.echo(f"{key}/{name} {change.result}")
    return 0


def print_items(key: str, items: list[dict[str, Any]], output: str) -> None:
    """YAML and JSON in the file form (so the output applies back), or a table."""
    if output == "json":
        typer.echo(json.dumps({key: items}, indent=2, default=str))
    elif output == "table":
        columns = ["name", *(c for c in ("type", "enabled", "description") if any(c in i for i in items))]
        rows = [[str(item.get(c, "")) for c in columns] for item in items]
        widths = [max([len(c), *(len(r[n]) for r in rows)]) for n, c in enumerate(columns)]
        for row in [[c.upper() for c in columns], *rows]:
            typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    else:
        import yaml

        typer.echo(yaml.safe_dump({key: items}, sort_keys=False))


def check_output(output: str) -> None:
    if output not in OUTPUTS:
        raise typer.BadParameter(f"{output!r} is not one of {', '.join(OUTPUTS)}", param_hint="'-o'")


def run_describe(settings: Settings, name: str) -> int:
    """A destination's configuration (masked), health, circuit, backlog and last error."""
    from axiom.admin import monitoring
    from axiom.domain.masking import mask_secrets
    from axiom.infra.delivery_guard import RedisGuard
    from cli.db_sessions import open_sessions

    guard = RedisGuard(settings.cache_url) if settings.cache_url else None
    try:
        with open_sessions(settings)() as session:
            rows = {row.name: row for row in monitoring.destination_health(session, guard)}
            config = {
                item["name"]: item for item in snapshot(session, ("destinations",))["destinations"].values()
            }
    finally:
        if guard is not None:
            guard.close()
    if name not in rows:
        typer.echo(f"error: no destination named {name!r}", err=True)
        return 1
    row = rows[name]
    print_description(
        mask_secrets(config[name]),
        {
            "circuit": row.circuit,
            "consecutive_failures": row.consecutive_failures,
            "backlog": row.backlog,
            "dead_letters": row.dead_letters,
            "last_error": row.last_error,
            "last_error_at": row.last_error_at,
        },
    )
    return 0


def print_description(config: dict[str, Any], health: dict[str, Any]) -> None:
    import yaml

    typer.echo(yaml.safe_dump({"destination": config}, sort_keys=False), nl=False)
    typer.echo("health:")
    for key, value in health.items():
        typer.echo(f"  {key}: {'-' if value is None else value}")
