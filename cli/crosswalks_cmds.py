"""``axiom crosswalks sync [NAME]`` and ``axiom crosswalks list``."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.context import get_settings

crosswalks_app = typer.Typer(help="Crosswalks (lookup tables): sync and status", no_args_is_help=True)


@crosswalks_app.command("sync")
def sync_cmd(
    name: Annotated[str | None, typer.Argument(help="Crosswalk to sync (default: all)")] = None,
) -> None:
    """Sync now from the source, whatever the interval; exit 1 when a source failed."""
    from axiom.admin.crosswalks import UnknownCrosswalk, sync_crosswalks
    from cli.db_sessions import open_sessions

    try:
        results = sync_crosswalks(open_sessions(get_settings()), None if name is None else [name])
    except UnknownCrosswalk as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not results:
        typer.echo("no crosswalks configured")
    for result in results:
        typer.echo(str(result), err=not result.ok)
    raise typer.Exit(0 if all(r.ok for r in results) else 1)


@crosswalks_app.command("list")
def list_cmd() -> None:
    """Each crosswalk with its entry count, last sync and last error."""
    from axiom.db.repositories.crosswalks import get_crosswalk_rows
    from axiom.domain.masking import mask_text
    from cli.db_sessions import open_sessions

    with open_sessions(get_settings())() as session:
        rows = list(get_crosswalk_rows(session).values())
    typer.echo(f"{'NAME':<24} {'ROWS':>8} {'LAST SYNC (UTC)':<20} ERROR")
    for row in rows:
        synced = row.last_synced_at.strftime("%Y-%m-%d %H:%M:%S") if row.last_synced_at else "never"
        # An error stored before URLs were masked in full may still name a credential parameter.
        typer.echo(f"{row.name:<24} {row.row_count:>8} {synced:<20} {mask_text(row.last_error or '')}")
