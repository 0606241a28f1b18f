"""``axiom users create-superuser`` and ``axiom users create-api-key``: the first credentials, made
on the server itself (the API needs one to be called at all)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from cli.context import CLI_ACTOR, get_settings

users_app = typer.Typer(help="API users and API keys", no_args_is_help=True)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create-superuser")
def create_superuser(
    username: Annotated[str, typer.Option("--username", help="The new superuser's name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")
    ] = False,
) -> None:
    """Create a superuser (asks for the password twice unless --password-stdin)."""
    from pydantic import ValidationError

    from axiom.admin.accounts import AccountError, create_user
    from axiom.domain.auth import Role, UserCreate
    from cli.db_sessions import open_sessions

    try:
        data = UserCreate(username=username, password=_read_password(password_stdin), role=Role.SUPERUSER)
    except ValidationError as exc:
        fields = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        typer.echo(f"error: {fields}", err=True)
        raise typer.Exit(2) from None
    try:
        with open_sessions(get_settings())() as session:
            create_user(session, data, actor=CLI_ACTOR)
            session.commit()
    except AccountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created superuser {username!r}")


@users_app.command("create-api-key")
def create_api_key_cmd(
    name: Annotated[str, typer.Option("--name", help="What the key is for (shown in lists and audits)")],
    role: Annotated[
        str, typer.Option("--role", help="ingest (STOW-RS only), user, admin or superuser")
    ] = "user",
) -> None:
    """Create an API key and print it once; it cannot be read back later."""
    from pydantic import ValidationError

    from axiom.admin.accounts import create_api_key
    from axiom.domain.auth import ApiKeyCreate, Role
    from cli.db_sessions import open_sessions

    try:
        data = ApiKeyCreate(name=name, role=Role(role))
    except (ValueError, ValidationError):
        typer.echo(
            "error: --name must be a short name ([A-Za-z0-9_.-]) and --role ingest, user, admin or superuser",
            err=True,
        )
        raise typer.Exit(2) from None
    with open_sessions(get_settings())() as session:
        created = create_api_key(session, data, actor=CLI_ACTOR, creator_role=Role.SUPERUSER)
        session.commit()
    typer.echo(created.key)
    typer.echo(f"created API key {name!r} ({data.role.value}); it is shown only this once", err=True)
