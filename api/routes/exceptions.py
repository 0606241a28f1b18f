"""/api/v1/exceptions: the exception log with filters and paging (users); retry and discard (admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import AdminUser, CurrentUser, SessionDep
from axiom.admin import exception_admin
from axiom.pipeline.runtime import Runtime

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])


class ExceptionOut(BaseModel):
    id: int
    status: str
    stage: str
    destination: str | None
    error_class: str
    message: str
    attempts: int
    next_retry_at: datetime | None
    sop_instance_uid: str
    study_instance_uid: str | None
    created_at: datetime
    updated_at: datetime


class ActionOut(BaseModel):
    id: int
    outcome: str


@router.get("", response_model=list[ExceptionOut])
def list_exceptions(
    _: CurrentUser,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(open|dead|resolved|discarded)$")] = None,
    destination: str | None = None,
    stage: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ExceptionOut]:
    """Newest first. Rows carry UIDs and causes only, never patient data."""
    query = exception_admin.ExceptionFilter(status, destination, stage, limit, offset)
    return [
        ExceptionOut.model_validate(r, from_attributes=True)
        for r in exception_admin.list_exceptions(session, query)
    ]


def _runtime(request: Request) -> Runtime:
    # Built on first use: most API processes never retry anything themselves.
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        runtime = request.app.state.runtime = Runtime(request.app.state.settings)
    return runtime


async def _act(request: Request, exception_id: int, action: str, actor: str) -> ActionOut:
    runtime = _runtime(request)
    try:
        if action == "retry":
            outcome = await run_in_threadpool(exception_admin.retry_now, runtime, exception_id, actor=actor)
        else:
            await run_in_threadpool(exception_admin.discard, runtime, exception_id, actor=actor)
            outcome = "discarded"
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except exception_admin.NotActionable as exc:
        raise HTTPException(409, str(exc)) from None
    return ActionOut(id=exception_id, outcome=outcome)


@router.post("/{exception_id}/retry", response_model=ActionOut)
async def retry(exception_id: int, request: Request, principal: AdminUser) -> ActionOut:
    """Retry now: a failed delivery is sent again from its copy; a held instance is routed again."""
    return await _act(request, exception_id, "retry", principal.actor)


@router.post("/{exception_id}/discard", response_model=ActionOut)
async def discard(exception_id: int, request: Request, principal: AdminUser) -> ActionOut:
    """Give up: the row is marked discarded and its held copy deleted."""
    return await _act(request, exception_id, "discard", principal.actor)
