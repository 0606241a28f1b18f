"""Rules under /api/v1/config/rules: the dry-run of one uploaded DICOM file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser
from axiom.admin.dry_run import (
    REVEAL_ACTION,
    FileReport,
    UnknownRuleset,
    UnreadableFile,
    audit_reveal,
    dry_run_files,
)
from axiom.domain.auth import Role
from axiom.infra.anon_secret import deployment_secret

router = APIRouter(prefix="/api/v1/config/rules", tags=["rules"])


@router.post("/dry-run", response_model=FileReport)
async def dry_run(
    request: Request,
    principal: CurrentUser,
    file: Annotated[UploadFile, File(description="The DICOM file (Part 10) to evaluate")],
    ruleset: Annotated[
        str | None, Query(description="Evaluate only this ruleset (even when disabled)")
    ] = None,
    reveal: Annotated[
        bool,
        Query(
            description="Show the pseudonyms, UIDs, date shifts and crosswalk values the rules would "
            f"write (admin only; audited as {REVEAL_ACTION!r}). Masked otherwise."
        ),
    ] = False,
) -> FileReport:
    """What the rules would do with the uploaded file: rules matched or why not, tag diff,
    destinations and disposition. Nothing is sent or stored. Values keyed with the deployment
    secret or taken from a crosswalk are masked unless an admin asks with ``reveal=true``."""
    if reveal and not principal.role.allows(Role.ADMIN):
        raise HTTPException(403, f"reveal needs the role admin (you have {principal.role.value})")
    if reveal:
        # Audited before anything is shown, whatever the file turns out to be.
        await run_in_threadpool(audit_reveal, request.app.state.sessions, principal.actor, ruleset)
    try:
        (report,) = await run_in_threadpool(
            dry_run_files,
            request.app.state.sessions,
            [(file.filename or "upload", file.file)],
            ruleset=ruleset,
            # Anonymizing rules are evaluated with the deployment's key, as the worker does.
            anon_secret=deployment_secret(request.app.state.settings),
            reveal=reveal,
        )
    except UnreadableFile as exc:
        raise HTTPException(422, str(exc)) from None
    except UnknownRuleset as exc:
        raise HTTPException(404, str(exc)) from None
    return report
