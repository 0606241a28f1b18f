"""/api/v1/exceptions/bulk: retry or discard many exception rows at once (admins), by id or by a
filter ("all that match"). Each row is audited, and the bulk action once more."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import AdminUser
from api.routes.exceptions import _runtime
from axiom.admin import exception_bulk

router = APIRouter(prefix="/api/v1/exceptions", tags=["exceptions"])


class BulkFilter(BaseModel):
    status: Literal["open", "dead"] | None = None
    destination: str | None = Field(default=None, max_length=64)
    stage: str | None = Field(default=None, max_length=32)
    error_class: str | None = Field(default=None, max_length=128)
    older_than_minutes: int | None = Field(default=None, ge=1)
    newer_than_minutes: int | None = Field(default=None, ge=1)


class BulkIn(BaseModel):
    action: Literal["retry", "discard"]
    ids: list[int] | None = Field(default=None, max_length=exception_bulk.MAX_BULK)
    filter: BulkFilter | None = None  # every open or dead row that matches (at most MAX_BULK)


class BulkOut(BaseModel):
    action: str
    requested: int
    outcomes: dict[str, int]
    errors: dict[int, str]


@router.post("/bulk", response_model=BulkOut)
async def bulk(body: BulkIn, request: Request, principal: AdminUser) -> BulkOut:
    """Give either ``ids`` or ``filter``. Outcomes count rows by what happened (delivered, retry,
    dead, routed, discarded, not actionable); ``errors`` says why a row could not be acted on."""
    if (body.ids is None) == (body.filter is None):
        raise HTTPException(422, "give either ids or filter")
    runtime = _runtime(request)
    if body.filter is not None:
        query = exception_bulk.ExceptionQuery(**body.filter.model_dump())
        with runtime.sessions() as session:
            ids = exception_bulk.matching_ids(session, query)
        selection = {"filter": query.describe()}
    else:
        ids, selection = list(body.ids or []), None
    result = await run_in_threadpool(
        exception_bulk.bulk_act, runtime, body.action, ids, actor=principal.actor, selection=selection
    )
    return BulkOut(
        action=result.action, requested=result.requested, outcomes=result.outcomes, errors=result.errors
    )
