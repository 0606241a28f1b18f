"""``axiom anonymize reidentify PSEUDONYM``: who a pseudonym stands for, written to the audit log."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cli.context import get_settings

anonymize_app = typer.Typer(help="Anonymization: audited re-identification", no_args_is_help=True)


@anonymize_app.command("reidentify")
def reidentify_cmd(
    pseudonym: Annotated[str, typer.Argument(help="The PatientID the anonymize action sent")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit log)")],
    actor: Annotated[str, typer.Option("--actor", help="Who asks (default: the OS user)")] = "",
) -> None:
    """Print the original PatientID and PatientName behind PSEUDONYM; every call is audited.

    Exit 1 when the pseudonym is unknown, 2 when the actor or reason is missing.
    """
    from axiom.pipeline.pseudonyms import ReidentifyRefused, reidentify
    from cli.db_sessions import open_sessions

    who = actor or f"cli:{getpass.getuser()}"
    with open_sessions(get_settings())() as session:
        try:
            identities = reidentify(session, pseudonym, actor=who, reason=reason)
        except ReidentifyRefused as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    if not identities:
        typer.echo(f"no patient is recorded for pseudonym {pseudonym!r}", err=True)
        raise typer.Exit(1)
    for identity in identities:
        shift = "" if identity.date_shift_days is None else f"  date shift: {identity.date_shift_days} days"
        typer.echo(
            f"{identity.pseudonym}  PatientID: {identity.patient_id}  PatientName: {identity.patient_name}"
            f"  ({identity.method}, profile {identity.profile}){shift}"
        )
