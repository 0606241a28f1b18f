"""Rules under /api/v1/config/rules: the dry-run of one uploaded DICOM file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, HTTPException, Query, Request, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser
from axiom.services.anon_secret import deployment_secret
from axiom.services.dry_run import FileReport, UnknownRuleset, UnreadableFile, dry_run_files

router = APIRouter(prefix="/api/v1/config/rules", tags=["rules"])


@router.post("/dry-run", response_model=FileReport)
async def dry_run(
    request: Request,
    _: CurrentUser,
    file: Annotated[UploadFile, File(description="The DICOM file (Part 10) to evaluate")],
    ruleset: Annotated[
        str | None, Query(description="Evaluate only this ruleset (even when disabled)")
    ] = None,
) -> FileReport:
    """What the rules would do with the uploaded file: rules matched or why not, tag diff,
    destinations and disposition. Nothing is sent or stored."""
    try:
        (report,) = await run_in_threadpool(
            dry_run_files,
            request.app.state.sessions,
            [(file.filename or "upload", file.file)],
            ruleset=ruleset,
            # Anonymizing rules show their output only with the deployment's key.
            anon_secret=deployment_secret(request.app.state.settings),
        )
    except UnreadableFile as exc:
        raise HTTPException(422, str(exc)) from None
    except UnknownRuleset as exc:
        raise HTTPException(404, str(exc)) from None
    return report
