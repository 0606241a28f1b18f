"""The ``axiom`` command: one sub-command per role, plus configuration and database commands."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.anonymize_cmds import anonymize_app
from cli.context import get_settings
from cli.crosswalks_cmds import crosswalks_app
from cli.exceptions_cmds import exceptions_app
from cli.rules_cmds import rules_app
from cli.users_cmds import users_app

# Plain help (no rich): `axiom --help` starts without importing rich (docs/performance.md).
app = typer.Typer(no_args_is_help=True, rich_markup_mode=None)
db_app = typer.Typer(help="Database commands", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(rules_app, name="rules")
app.add_typer(crosswalks_app, name="crosswalks")
app.add_typer(exceptions_app, name="exceptions")
app.add_typer(users_app, name="users")
app.add_typer(anonymize_app, name="anonymize")


@app.command()
def up() -> None:
    """Run every role (listener, worker, beat, api) in one process group on the configured settings."""
    from cli.up import run_up

    raise typer.Exit(run_up(get_settings()))


@app.command()
def listen() -> None:
    """Run the C-STORE SCP."""
    from cli.roles import run_listener

    run_listener(get_settings())


@app.command()
def worker(
    queues: Annotated[
        str, typer.Option(help="Comma-separated queues to consume (gpu: the model worker, one per GPU)")
    ] = "high,default,low,retry",
    concurrency: Annotated[int, typer.Option(help="Worker processes (0: settings, else CPUs)")] = 0,
    pool: Annotated[str, typer.Option(help="Celery pool")] = "prefork",
    autoscale: Annotated[
        str, typer.Option(help="MAX,MIN processes, grown while tasks wait (instead of --concurrency)")
    ] = "",
) -> None:
    """Run a Celery worker."""
    from cli.roles import run_worker

    run_worker(get_settings(), queues, concurrency, pool, autoscale)


@app.command("gpu-worker")
def gpu_worker() -> None:
    """Run the model worker: the `gpu` queue, one process that micro-batches (one per GPU)."""
    from cli.roles import run_worker

    run_worker(get_settings(), "gpu", 1, "solo")


@app.command()
def beat() -> None:
    """Run Celery Beat (periodic retries and sweeps)."""
    from cli.roles import run_beat

    run_beat(get_settings())


@app.command()
def api() -> None:
    """Run the HTTP API."""
    from cli.roles import run_api

    run_api(get_settings())


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def flower(ctx: typer.Context) -> None:
    """Run Celery Flower against the configured broker (needs the ``flower`` extra); extra args pass through."""
    from cli.roles import run_flower

    run_flower(get_settings(), list(ctx.args))


@app.command()
def schema(
    built_in: bool = typer.Option(
        False, "--built-in", help="Only the built-in kinds (docs/config.schema.json), not installed plugins'."
    ),
) -> None:
    """Print the JSON Schema of the configuration file that `axiom apply` reads, installed plugins'
    destination and source kinds included."""
    from axiom.admin.config_schema import config_schema_text

    typer.echo(config_schema_text(installed=not built_in), nl=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations."""
    from axiom.db.session import upgrade_database

    settings = get_settings()
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    typer.echo("database is at the latest revision")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"axiom {version('axiom-router')}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit")
    ] = False,
) -> None:
    """Axiom DICOM router. Configuration, exception and monitoring commands go through the API when
    AXIOM_URL and AXIOM_API_KEY are set or after `axiom login`; up, the roles and db run here."""


FileOpt = Annotated[str, typer.Option("--file", "-f", help="YAML file, a folder of them, or - for stdin")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="yaml, json or table")]


@app.command()
def apply(
    file: FileOpt,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; change nothing")
    ] = False,
    prune: Annotated[
        bool, typer.Option("--prune", help="Delete what the file's kinds hold but the file does not name")
    ] = False,
) -> None:
    """Create or update destinations, rulesets, crosswalks, sources and peers from a file (idempotent;
    all or nothing on this host)."""
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "apply", source=file, dry_run=dry_run, prune=prune))
    from cli.config_verbs import run_apply

    raise typer.Exit(run_apply(get_settings(), file, dry_run=dry_run, prune=prune))


@app.command()
def diff(
    file: FileOpt,
    prune: Annotated[bool, typer.Option("--prune", help="Also show what --prune would delete")] = False,
) -> None:
    """What `axiom apply -f` would change, as a unified diff (exit 1 when there is a difference)."""
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "diff", source=file, prune=prune))
    from cli.config_verbs import run_diff

    raise typer.Exit(run_diff(get_settings(), file, prune=prune))


@app.command()
def delete(
    kind: Annotated[str, typer.Argument(help="destination, ruleset, crosswalk or source")],
    name: Annotated[str, typer.Argument(help="Its name")],
) -> None:
    """Delete one configured item (a destination still named by a rule is refused)."""
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "delete", kind=kind, name=name))
    from cli.config_verbs import run_delete

    raise typer.Exit(run_delete(get_settings(), kind, name))


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="destinations, rules, crosswalks, sources or peers")],
    name: Annotated[str | None, typer.Argument(help="Only this one")] = None,
    output: OutputOpt = "yaml",
    show_secrets: Annotated[
        bool,
        typer.Option("--show-secrets", help="print credentials unmasked (a backup to apply back; local)"),
    ] = False,
) -> None:
    """Print the configured items (yaml and json in the format `axiom apply` reads), credentials
    masked unless --show-secrets."""
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "get", kind=kind, output=output, name=name))
    from cli.config_cmds import run_get

    raise typer.Exit(run_get(get_settings(), kind, output, name=name, show_secrets=show_secrets))


@app.command()
def describe(
    kind: Annotated[str, typer.Argument(help="destination")],
    name: Annotated[str, typer.Argument(help="Its name")],
) -> None:
    """A destination's configuration and health: circuit breaker, backlog, dead letters, last error."""
    if kind not in ("destination", "destinations"):
        raise typer.BadParameter("only `describe destination NAME` is known", param_hint="KIND")
    from cli.remote import run, target

    remote = target()
    if remote is not None:
        raise typer.Exit(run(remote, "describe", name=name))
    from cli.config_verbs import run_describe

    raise typer.Exit(run_describe(get_settings(), name))


@app.command()
def login(
    url: Annotated[str, typer.Argument(help="The API, e.g. https://axiom.example.org")],
    username: Annotated[str, typer.Option(prompt=True)],
    password: Annotated[str, typer.Option(prompt=True, hide_input=True)],
) -> None:
    """Sign in to a remote Axiom: later commands go through its API (token stored mode 0600)."""
    from cli.remote import RemoteError
    from cli.remote import login as do_login

    try:
        path = do_login(url, username, password)
    except RemoteError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"signed in to {url} (token in {path})")


@app.command()
def logout() -> None:
    """Forget the stored token: commands work on this host again."""
    from cli.remote import credentials_path

    credentials_path().unlink(missing_ok=True)
    typer.echo("signed out")


if __name__ == "__main__":
    app()
