"""``axiom exceptions list|retry|discard``: the exception log for admins."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from axiom.config import get_settings
from cli.db_sessions import CLI_ACTOR

exceptions_app = typer.Typer(
    help="Failed deliveries and held instances: list, retry, discard", no_args_is_help=True
)


@exceptions_app.command("list")
def list_cmd(
    status: Annotated[str | None, typer.Option(help="open, dead, resolved or discarded")] = None,
    destination: Annotated[str | None, typer.Option(help="Only rows of this destination")] = None,
    stage: Annotated[str | None, typer.Option(help="ingest, parse, route, morph, deliver or trigger")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Newest rows first (UIDs and reasons only: no patient data is kept in the log)."""
    from axiom.admin.exception_admin import ExceptionFilter, list_exceptions
    from cli.db_sessions import open_sessions

    query = ExceptionFilter(status=status, destination=destination, stage=stage, limit=limit)
    with open_sessions(get_settings())() as session:
        rows = list_exceptions(session, query)
        records = [
            {
                "id": r.id,
                "status": r.status.value,
                "stage": r.stage,
                "destination": r.destination,
                "error_class": r.error_class,
                "attempts": r.attempts,
                "next_retry_at": r.next_retry_at.isoformat() if r.next_retry_at else None,
                "sop_instance_uid": r.sop_instance_uid,
                "message": r.message,
            }
            for r in rows
        ]
    if output == "json":
        typer.echo(json.dumps(records, indent=2))
        return
    typer.echo(
        f"{'ID':>6} {'STATUS':<10} {'STAGE':<8} {'DESTINATION':<16} {'TRIES':>5} {'ERROR':<22} SOP INSTANCE UID"
    )
    for r in records:
        typer.echo(
            f"{r['id']:>6} {r['status']:<10} {r['stage']:<8} {r['destination'] or '-':<16} "
            f"{r['attempts']:>5} {r['error_class']:<22} {r['sop_instance_uid']}"
        )


def _each(ids: list[int], action: str) -> None:
    from axiom.admin.exception_admin import NotActionable, discard, retry_now
    from axiom.pipeline.runtime import Runtime
    from cli.db_sessions import open_sessions

    settings = get_settings()
    open_sessions(settings)  # brings the schema up to date
    runtime = Runtime(settings)
    failed = False
    try:
        for exception_id in ids:
            try:
                if action == "retry":
                    typer.echo(f"{exception_id}: {retry_now(runtime, exception_id, actor=CLI_ACTOR)}")
                else:
                    discard(runtime, exception_id, actor=CLI_ACTOR)
                    typer.echo(f"{exception_id}: discarded")
            except (LookupError, NotActionable) as exc:
                typer.echo(f"{exception_id}: {exc}", err=True)
                failed = True
    finally:
        runtime.close()
    raise typer.Exit(1 if failed else 0)


@exceptions_app.command("retry")
def retry_cmd(ids: Annotated[list[int], typer.Argument(help="Exception ids")]) -> None:
    """Retry now: a failed delivery is sent again from its copy; a held instance is routed again
    through the current rules."""
    _each(ids, "retry")


@exceptions_app.command("discard")
def discard_cmd(ids: Annotated[list[int], typer.Argument(help="Exception ids")]) -> None:
    """Give up: the row is marked discarded and its held copy deleted."""
    _each(ids, "discard")
