"""Crosswalks for admins: each lookup table's source, size, last sync and error, and "sync now" (the
same sync and audit row as ``POST /api/v1/config/crosswalks/{name}/sync``). Entries are counted, not
listed: their values may identify patients."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.admin import config_edit
from axiom.admin.crosswalks import sync_crosswalk

router = APIRouter(include_in_schema=False)


@router.get("/admin/crosswalks")
def crosswalks(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return page(request, "admin/crosswalks.html", {"items": config_edit.crosswalk_status(session)})


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
