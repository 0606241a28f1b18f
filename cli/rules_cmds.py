"""``axiom rules draft``: a language model's rule, validated, never applied; ``axiom rules history|diff|rollback``: the versions every ruleset change stores; ``rules test``: dry-run;
``rules replay``: a candidate ruleset against the kept headers of received instances."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.context import CLI_ACTOR, get_settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from axiom.admin.dry_run import FileReport
    from axiom.admin.replay import ReplayReport

rules_app = typer.Typer(
    help="Ruleset versions (history, diff, rollback), dry-runs (test) and replays (replay)",
    no_args_is_help=True,
)


@rules_app.command("draft")
def draft_cmd(sentence: Annotated[str, typer.Argument(help="What the rule should do, in English")]) -> None:
    """Ask the configured language model for a rule; print it as YAML once it validates. Never applied."""
    from axiom.ai.language_models import draft
    from axiom.ai.llm import LLMError
    from axiom.ai.rule_draft import DraftError
    from cli.db_sessions import open_sessions

    settings = get_settings()
    try:
        text, unknown = draft(settings, open_sessions(settings), sentence, CLI_ACTOR)
    except DraftError as exc:
        typer.echo(f"error: {exc}", err=True)
        for line in exc.errors:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(1) from None
    except LLMError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("# Draft only: review it, add it to a ruleset in your configuration, then `axiom apply`.")
    if unknown:
        typer.echo(f"# Not configured yet: {', '.join(unknown)}")
    typer.echo(text, nl=False)


@rules_app.command("history")
def history_cmd(name: Annotated[str, typer.Argument(help="Ruleset name")]) -> None:
    """List the versions of a ruleset, oldest first: number, when (UTC), who, what, content hash."""
    from axiom.admin.ruleset_versions import history
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
    from axiom.admin.ruleset_versions import VersionNotFound, diff
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
    from axiom.admin.ruleset_versions import RollbackError, VersionNotFound, rollback
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


@rules_app.command("test")
def test_cmd(
    files: Annotated[list[Path], typer.Argument(help="DICOM files to evaluate")],
    ruleset: Annotated[
        str | None, typer.Option("--ruleset", help="Evaluate only this ruleset (even when disabled)")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
    reveal: Annotated[
        bool,
        typer.Option("--reveal", help="show pseudonyms, UIDs, date shifts and crosswalk values (audited)"),
    ] = False,
) -> None:
    """Dry-run: which rules each file matches (and why not), the tag diff, destinations; nothing is sent.
    Values keyed with the deployment secret or from a crosswalk are masked unless --reveal."""
    import json

    from axiom.admin.dry_run import UnknownRuleset, UnreadableFile, audit_reveal, dry_run_files
    from axiom.infra.anon_secret import deployment_secret
    from cli.db_sessions import open_sessions

    if output not in ("text", "json"):
        typer.echo(f"error: --output must be text or json, not {output!r}", err=True)
        raise typer.Exit(2)
    settings = get_settings()
    sessions = open_sessions(settings)
    if reveal:
        audit_reveal(sessions, "cli", ruleset)
    try:
        reports = dry_run_files(
            sessions, list(files), ruleset=ruleset, anon_secret=deployment_secret(settings), reveal=reveal
        )
    except (UnknownRuleset, UnreadableFile) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(json.dumps([r.model_dump(mode="json") for r in reports], indent=2))
        return
    for report in reports:
        typer.echo(_text_report(report))


def _text_report(report: FileReport) -> str:
    lines = [f"== {report.file}", f"disposition: {report.disposition}"]
    if report.reason:
        lines.append(f"reason: {report.reason}")
    lines.append("rules:")
    for r in report.rules:
        if r.matched:
            lines.append(f"  MATCH    {r.rule}")
        elif r.failure is not None:
            f = r.failure
            lines.append(f"  no match {r.rule}: {f.path} {f.operator}: {f.reason}")
        else:
            lines.append(f"  skipped  {r.rule}: {r.skipped}")
    if not report.rules:
        lines.append("  (none evaluated)")
    if report.infer:
        lines.append(
            f"models first: {', '.join(report.infer)} (not run by a dry-run; rules on their results not met)"
        )
    lines.append("destinations:")
    lines += [
        f"  {d.name} ({d.priority})"
        + (f" once the {d.trigger} is complete ({d.rule})" if d.trigger != "instance" else "")
        for d in report.destinations
    ] or ["  (none)"]
    lines.append("tag changes:")
    for c in report.changes:
        name = f"{c.tag} {c.keyword}".strip()
        lines.append(
            f"  {c.change:<8} {name}: {c.old if c.old is not None else '-'} -> {c.new if c.new is not None else '-'}"
        )
    if not report.changes:
        lines.append("  (none)")
    return "\n".join(lines)


@rules_app.command("replay")
def replay_cmd(
    since: Annotated[str, typer.Option("--since", help="30m, 12h, 2d or an ISO date (UTC)")],
    ruleset: Annotated[
        str, typer.Option("--ruleset", help="NAME@VERSION (a stored version), or NAME with --candidate")
    ],
    candidate: Annotated[
        Path | None, typer.Option("--candidate", help="YAML file holding the candidate ruleset NAME")
    ] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="text or json")] = "text",
) -> None:
    """Replay the kept headers of instances received since --since against a candidate ruleset and
    report how routing would differ from what happened; nothing is sent or written."""
    from datetime import UTC, datetime

    from axiom.admin.replay import (
        ReplayInputError,
        file_candidate,
        parse_since,
        replay,
        stored_candidate,
    )
    from cli.db_sessions import open_sessions

    if output not in ("text", "json"):
        typer.echo(f"error: --output must be text or json, not {output!r}", err=True)
        raise typer.Exit(2)
    now = datetime.now(UTC)
    sessions = open_sessions(get_settings())
    try:
        start = parse_since(since, now)
        with sessions() as session:
            if candidate is not None:
                name, rules = ruleset, file_candidate(session, ruleset, candidate)
            else:
                name, _, version = ruleset.rpartition("@")
                if not name or not version.isdigit():
                    raise ReplayInputError(
                        f"--ruleset {ruleset!r}: expected NAME@VERSION, or NAME with --candidate FILE"
                    )
                rules = stored_candidate(session, name, int(version))
        with _progress() as (bar, task):
            report = replay(
                sessions,
                since=start,
                candidate=rules,
                ruleset_name=name,
                now=now,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    except ReplayInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if output == "json":
        typer.echo(report.model_dump_json(indent=2))
        return
    _print_replay(report)


@contextmanager
def _progress() -> Iterator[tuple[Progress, TaskID]]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        yield bar, bar.add_task("replay", total=None)


def _print_replay(report: ReplayReport) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    # Piped output keeps whole rows (UIDs unwrapped) for grep and scripts.
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 1000)
    when = f"{report.since:%Y-%m-%d %H:%M} to {report.until:%Y-%m-%d %H:%M} UTC"
    console.print(f"ruleset {report.ruleset}: {report.total} instances received {when}", markup=False)
    console.print(f"same: {report.same}  different: {report.different}", markup=False)
    if not report.differences:
        return
    table = Table("SOP INSTANCE UID", "ACTUAL DESTINATIONS", "CANDIDATE", "ACTUAL RULES", "CANDIDATE RULES")
    for d in report.differences:
        candidate = ", ".join(d.candidate_destinations) or f"({d.candidate_disposition})"
        table.add_row(
            d.sop_instance_uid,
            ", ".join(d.actual_destinations) or "-",
            candidate if d.candidate_destinations or d.candidate_disposition != "route" else "-",
            ", ".join(d.actual_matched) or "-",
            ", ".join(d.candidate_matched) or "-",
        )
    console.print(table)
