"""``axiom rules history|diff|rollback``: the versions every ruleset change stores."""

from __future__ import annotations

from typing import Annotated

import typer

from axiom.config import get_settings

rules_app = typer.Typer(help="Ruleset versions: history, diff and rollback", no_args_is_help=True)

# Who the CLI records as the actor, as `axiom apply` does.
CLI_ACTOR = "cli"


@rules_app.command("history")
def history_cmd(name: Annotated[str, typer.Argument(help="Ruleset name")]) -> None:
    """List the versions of a ruleset, oldest first: number, when (UTC), who, what, content hash."""
    from axiom.services.ruleset_versions import history
    from cli.db_sessions import open_sessions

    with open_sessions(get_settings())() as session:
        versions = history(session, name)
    if not versions:
        typer.echo(f"error: ruleset {name!r} has no versions", err=True)
        raise typer.Exit(2)
    typer.echo(f"{'VERSION':<8} {'WHEN (UTC)':<20} {'WHO':<16} {'ACTION':<14} SHA256")
    for v in versions:
        action = f"{v.action} {v.restored_from}" if v.restored_from is not None else v.action
        when = v.created_at.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{v.version:<8} {when:<20} {v.actor:<16} {action:<14} {v.content_hash[:12]}")


@rules_app.command("diff")
def diff_cmd(
    name: Annotated[str, typer.Argument(help="Ruleset name")],
    old: Annotated[int, typer.Argument(help="Version to compare from")],
    new: Annotated[int, typer.Argument(help="Version to compare to")],
) -> None:
    """Print a unified diff of two versions' YAML (nothing when they are the same)."""
    from axiom.services.ruleset_versions import VersionNotFound, diff
    from cli.db_sessions import open_sessions

    try:
        with open_sessions(get_settings())() as session:
            text = diff(session, name, old, new)
    except VersionNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(text, nl=False)


@rules_app.command("rollback")
def rollback_cmd(
    name: Annotated[str, typer.Argument(help="Ruleset name")],
    to: Annotated[int, typer.Option("--to", help="Version to restore")],
) -> None:
    """Restore a version as the current ruleset, recorded as a new version (so it can be undone)."""
    from axiom.services.ruleset_versions import RollbackError, VersionNotFound, rollback
    from cli.db_sessions import open_sessions

    try:
        with open_sessions(get_settings())() as session:
            result = rollback(session, name, to, actor=CLI_ACTOR)
            session.commit()
    except (VersionNotFound, RollbackError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if result.changed:
        typer.echo(
            f"{name}: restored version {to} as version {result.version}; "
            f"config version {result.config_version}"
        )
    else:
        typer.echo(f"{name}: already holds the content of version {to}; nothing changed")
