"""The ``axiom`` command: one sub-command per role, plus configuration and database commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from axiom.config import get_settings
from cli.anonymize_cmds import anonymize_app
from cli.crosswalks_cmds import crosswalks_app
from cli.exceptions_cmds import exceptions_app
from cli.rules_cmds import rules_app
from cli.users_cmds import users_app

app = typer.Typer(help="Axiom DICOM router", no_args_is_help=True, add_completion=False)
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
) -> None:
    """Run a Celery worker."""
    from cli.roles import run_worker

    run_worker(get_settings(), queues, concurrency, pool)


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


@app.command()
def apply(
    file: Annotated[Path, typer.Option("--file", "-f", help="YAML file of destinations and rulesets")],
) -> None:
    """Create or update destinations and rulesets from a file (idempotent; all or nothing)."""
    from cli.config_cmds import run_apply

    raise typer.Exit(run_apply(get_settings(), file))


@app.command()
def get(
    kind: Annotated[str, typer.Argument(help="destinations, rules or crosswalks")],
    output: Annotated[str, typer.Option("--output", "-o", help="yaml or json")] = "yaml",
    show_secrets: Annotated[
        bool, typer.Option("--show-secrets", help="print credentials unmasked (a backup to apply back)")
    ] = False,
) -> None:
    """Print the configured destinations, rulesets or crosswalks (in the format `axiom apply` reads),
    credentials masked unless --show-secrets."""
    from cli.config_cmds import run_get

    raise typer.Exit(run_get(get_settings(), kind, output, show_secrets=show_secrets))


if __name__ == "__main__":
    app()
