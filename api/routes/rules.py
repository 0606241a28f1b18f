"""Rules under /api/v1/config/rules: the dry-run of one uploaded DICOM file.

The upload is ``multipart/form-data`` with the file in the field ``file``. It is parsed with the
standard library's MIME parser, so the API needs no multipart package.
"""

from __future__ import annotations

import io
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from axiom.services.dry_run import FileReport, UnknownRuleset, UnreadableFile, dry_run_files

router = APIRouter(prefix="/api/v1/config/rules", tags=["rules"])

UPLOAD_FIELD = "file"


def _upload(content_type: str, body: bytes) -> tuple[str, bytes]:
    """(file name, content) of the ``file`` field; HTTPException 422 when there is none."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise HTTPException(422, f"send the DICOM file as multipart/form-data in the field {UPLOAD_FIELD!r}")
    header = b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(header + body)
    parts = message.iter_parts() if isinstance(message, EmailMessage) else iter(())
    for part in parts:
        if part.get_param("name", header="content-disposition") == UPLOAD_FIELD:
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                return part.get_filename() or "upload", payload
    raise HTTPException(422, f"no file in the multipart field {UPLOAD_FIELD!r}")


@router.post("/dry-run", response_model=FileReport)
async def dry_run(
    request: Request,
    ruleset: Annotated[
        str | None, Query(description="Evaluate only this ruleset (even when disabled)")
    ] = None,
) -> FileReport:
    """What the rules would do with the uploaded file: rules matched or why not, tag diff,
    destinations and disposition. Nothing is sent or stored."""
    name, content = _upload(request.headers.get("content-type", ""), await request.body())
    try:
        (report,) = await run_in_threadpool(
            dry_run_files, request.app.state.sessions, [(name, io.BytesIO(content))], ruleset=ruleset
        )
    except UnreadableFile as exc:
        raise HTTPException(422, str(exc)) from None
    except UnknownRuleset as exc:
        raise HTTPException(404, str(exc)) from None
    return report
