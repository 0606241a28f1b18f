"""``axiom exceptions list|retry|discard``: the exception log for admins."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from cli.context import CLI_ACTOR, get_settings

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
    from cli.remote import target

    remote = target()
    records = (
        _remote_rows(remote, status, destination, stage, limit)
        if remote
        else _rows(status, destination, stage, limit)
    )
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


FIELDS = (
    "id",
    "status",
    "stage",
    "destination",
    "error_class",
    "attempts",
    "next_retry_at",
    "sop_instance_uid",
    "message",
)


def _remote_rows(
    remote: Any, status: str | None, destination: str | None, stage: str | None, limit: int
) -> list[dict[str, Any]]:
    from urllib.parse import urlencode

    from cli.remote import API, RemoteError

    given = {"status": status, "destination": destination, "stage": stage, "limit": min(limit, 1000)}
    try:
        rows = remote.request("GET", f"{API}/exceptions?" + urlencode({k: v for k, v in given.items() if v}))
    except RemoteError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    return [{field: row.get(field) for field in FIELDS} for row in rows]


def _rows(status: str | None, destination: str | None, stage: str | None, limit: int) -> list[dict[str, Any]]:
    from axiom.admin.exception_admin import ExceptionFilter, list_exceptions
    from cli.db_sessions import open_sessions

    query = ExceptionFilter(status=status, destination=destination, stage=stage, limit=limit)
    with open_sessions(get_settings())() as session:
        rows = list_exceptions(session, query)
        return [
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


def _each(ids: list[int], action: str) -> None:
    """By id, one line each (``<id>: delivered``; a row that cannot be acted on exits 1)."""
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


def _act(action: str, ids: list[int], selection: dict[str, str]) -> None:
    """By ids, or every open or dead row matching the filter (at most exception_bulk.MAX_BULK)."""
    if not ids and not selection:
        raise typer.BadParameter("give exception ids, or --destination / --status / --stage")
    if ids and selection:
        raise typer.BadParameter("give exception ids or a selection, not both")
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "exceptions", action=action, ids=ids, selection=selection))
    if ids:
        _each(ids, action)
    from axiom.admin.exception_bulk import ExceptionQuery, bulk_act, matching_ids
    from axiom.pipeline.runtime import Runtime
    from cli.db_sessions import open_sessions

    settings = get_settings()
    query = ExceptionQuery(
        status=selection.get("status"), destination=selection.get("destination"), stage=selection.get("stage")
    )
    with open_sessions(settings)() as session:  # brings the schema up to date
        ids = matching_ids(session, query)
    runtime = Runtime(settings)
    try:
        result = bulk_act(runtime, action, ids, actor=CLI_ACTOR, selection=selection)
    finally:
        runtime.close()
    typer.echo(
        f"{action}: {result.requested} rows; " + ", ".join(f"{k}: {v}" for k, v in result.outcomes.items())
    )
    for exception_id, error in result.errors.items():
        typer.echo(f"{exception_id}: {error}", err=True)
    raise typer.Exit(1 if result.errors else 0)


def _selection(destination: str | None, status: str | None, stage: str | None) -> dict[str, str]:
    if status not in (None, "open", "dead"):
        raise typer.BadParameter("only open or dead rows can be acted on", param_hint="'--status'")
    given = {"destination": destination, "status": status, "stage": stage}
    return {key: value for key, value in given.items() if value}


IdsArg = Annotated[list[int] | None, typer.Argument(help="Exception ids (or select with the options)")]
DestinationOpt = Annotated[str | None, typer.Option(help="Every open or dead row of this destination")]
StatusOpt = Annotated[str | None, typer.Option(help="open or dead")]
StageOpt = Annotated[str | None, typer.Option(help="ingest, parse, route, morph, deliver or trigger")]


@exceptions_app.command("retry")
def retry_cmd(
    ids: IdsArg = None, destination: DestinationOpt = None, status: StatusOpt = None, stage: StageOpt = None
) -> None:
    """Retry now: a failed delivery is sent again from its copy; a held instance is routed again
    through the current rules. E.g. `axiom exceptions retry --destination pacs --status dead`."""
    _act("retry", ids or [], _selection(destination, status, stage))


@exceptions_app.command("discard")
def discard_cmd(
    ids: IdsArg = None, destination: DestinationOpt = None, status: StatusOpt = None, stage: StageOpt = None
) -> None:
    """Give up: the row is marked discarded and its held copy deleted."""
    _act("discard", ids or [], _selection(destination, status, stage))
