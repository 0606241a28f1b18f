"""STOW-RS: POST /api/v1/dicomweb/studies[/{StudyInstanceUID}], stored like a C-STORE (the ingest
role, or admin and above).

The route only streams the body into ``axiom.pipeline.stow``'s parser and renders its answer; the
spooling and publishing are ``ingest_instance``'s, the same as the listener's.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.deps import IngestUser
from axiom.pipeline import stow
from axiom.pipeline.ingest import IngestPorts

router = APIRouter(prefix="/api/v1/dicomweb", tags=["dicomweb"])

DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
UID_PATTERN = r"^[0-9]+(\.[0-9]+)*$"
RETRY_AFTER_SECONDS = 60

_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            'multipart/related; type="application/dicom"': {"schema": {"type": "string", "format": "binary"}}
        },
    },
    "responses": {
        "200": {"description": "every instance stored", "content": {DICOM_JSON: {}, DICOM_XML: {}}},
        "202": {"description": "some instances stored, the others listed in FailedSOPSequence"},
        "409": {"description": "no instance stored; FailedSOPSequence says why for each"},
        "400": {"description": "the multipart body does not parse or is truncated; nothing stored"},
        "413": {"description": "the body or one of its parts is over the configured size limit"},
        "415": {"description": "not multipart/related; type=application/dicom"},
        "503": {"description": "ingest is paused (free space under the low watermark); see Retry-After"},
    },
}


def _wants_xml(accept: str | None) -> bool:
    accept = (accept or "").lower()
    return DICOM_XML in accept and DICOM_JSON not in accept and "application/json" not in accept


def _too_large(limit: int) -> str:
    return (
        f"the request body is over the limit of {limit} bytes (AXIOM_STOW_MAX_BODY_BYTES); nothing was stored"
    )


def _error(request: Request, exc: stow.StowRequestError) -> Response:
    return JSONResponse({"detail": str(exc)}, status_code=exc.status)


async def _store(request: Request, study_uid: str | None) -> Response:
    settings = request.app.state.settings
    # Built on first use (the Celery app, a database engine): not on the event loop.
    ports: IngestPorts = await run_in_threadpool(request.app.state.ingest_ports)
    if not ports.spool.has_room():
        return JSONResponse(
            {"detail": "out of disk space: ingest is paused until space is freed; retry later"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    try:
        boundary = stow.boundary_of(request.headers.get("content-type"))
    except stow.StowRequestError as exc:
        return _error(request, exc)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.stow_max_body_bytes:
        return _error(request, stow.StowRequestError(_too_large(settings.stow_max_body_bytes), 413))
    staging = settings.data_path / "stow-staging"
    staging.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=staging) as folder:
        collector = stow.PartCollector(boundary, Path(folder), max_part_bytes=settings.max_instance_bytes)
        received = 0
        try:
            async for chunk in request.stream():
                received += len(chunk)
                if received > settings.stow_max_body_bytes:  # a chunked body declares no length
                    raise stow.StowRequestError(_too_large(settings.stow_max_body_bytes), 413)
                collector.feed(chunk)
            parts = collector.finish()
        except stow.StowRequestError as exc:
            return _error(request, exc)
        except ClientDisconnect:
            return _error(request, stow.StowRequestError("the client went away before the body ended"))
        finally:
            collector.close()
        result = await run_in_threadpool(stow.store_parts, ports, parts, study_uid, settings.ae_title)
    dataset = stow.response_dataset(result)
    headers = {}
    reasons = [p.reason for p in result.failed if p.reason][:10]
    if reasons:
        # The reasons as text for people; the FailedSOPSequence carries the codes.
        headers["Warning"] = ", ".join(
            '299 axiom "{}"'.format(r.replace('"', "'").encode("ascii", "replace").decode()) for r in reasons
        )
    if _wants_xml(request.headers.get("accept")):
        return Response(stow.response_xml(dataset), result.http_status, headers, media_type=DICOM_XML)
    return JSONResponse(dataset.to_json_dict(), result.http_status, headers, media_type=DICOM_JSON)


@router.post("/studies", openapi_extra=_BODY, response_class=Response)
async def store_instances(request: Request, _: IngestUser) -> Response:
    """Store the instances of a multipart/related body (any studies). Needs the ingest or admin role."""
    return await _store(request, None)


@router.post("/studies/{study_uid}", openapi_extra=_BODY, response_class=Response)
async def store_study_instances(
    request: Request,
    _: IngestUser,
    study_uid: Annotated[str, PathParam(pattern=UID_PATTERN, max_length=64)],
) -> Response:
    """Store instances of one study; a part of another study fails with reason 0xC409."""
    return await _store(request, study_uid)
