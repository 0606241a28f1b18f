"""Crosswalks for admins: each lookup table's source, size, last sync and error, and "sync now" (the
same sync and audit row as ``POST /api/v1/config/crosswalks/{name}/sync``), and each table's entries,
50 a page, searchable by key prefix (``axiom.admin.crosswalk_entries``: an admin's read is audited;
keys and values may identify patients)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.admin import config_edit
from axiom.admin.crosswalk_entries import PAGE_SIZE, entry_page
from axiom.admin.crosswalks import sync_crosswalk

router = APIRouter(include_in_schema=False)


@router.get("/admin/crosswalks")
def crosswalks(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return page(request, "admin/crosswalks.html", {"items": config_edit.crosswalk_status(session)})


@router.get("/admin/crosswalks/{name}/entries")
def entries(
    request: Request,
    name: str,
    principal: AdminPage,
    session: SessionDep,
    prefix: Annotated[str, Query(max_length=256)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=200_000)] = 1,
) -> Response:
    offset = (page_no - 1) * PAGE_SIZE
    try:
        found = entry_page(session, name, principal, prefix=prefix, limit=PAGE_SIZE, offset=offset)
    except config_edit.ConfigNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    session.commit()  # the audit row of the read
    context = {
        "found": found,
        "total": found.total,
        "page_no": page_no,
        "pages": max(1, -(-found.total // PAGE_SIZE)),
        "q": dict(request.query_params),
    }
    template = (
        "admin/crosswalk_entries_results.html"
        if request.headers.get("hx-request")
        else "admin/crosswalk_entries.html"
    )
    return page(request, template, context)


@router.post("/admin/crosswalks/sync")
async def sync_now(
    request: Request, principal: ConsoleAdmin, name: Annotated[str, Form(max_length=64)]
) -> Response:
    result = await run_in_threadpool(sync_crosswalk, request.app.state.sessions, name)
    with request.app.state.sessions() as session:
        config_edit.record_sync(
            session, name, actor=principal.actor, rows=result.rows, changed=result.changed, error=result.error
        )
        session.commit()
    if result.error:
        message = f"sync of {name} failed: {result.error}"
    else:
        message = f"{name}: {result.rows} rows, {'changed' if result.changed else 'unchanged'}"
    return page(request, "action_result.html", {"message": message})
