"""Sources for admins: each poller's last poll and its outcome, and "poll now" (the same Celery task
Beat sends, published on the low queue; audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import AdminPage, ConsoleAdmin
from api.deps import SessionDep
from axiom.db.repositories import audit as audit_repo
from axiom.pipeline.poll import source_status
from workers.task_names import TASK_POLL_SOURCE

router = APIRouter(include_in_schema=False)


@router.get("/admin/sources")
def sources(request: Request, _: AdminPage, session: SessionDep) -> Response:
    return page(request, "admin/sources.html", {"items": source_status(session), "message": None})


@router.post("/admin/sources/poll")
async def poll_now(
    request: Request,
    principal: ConsoleAdmin,
    session: SessionDep,
    name: Annotated[str, Form(max_length=64)],
) -> Response:
    if name not in {item["name"] for item in source_status(session)}:
        raise HTTPException(404, f"no source named {name!r}")
    celery = request.app.state.ingest_ports.celery()
    await run_in_threadpool(celery.send_task, TASK_POLL_SOURCE, args=[name], queue="low", routing_key="low")
    audit_repo.add_audit(
        session, actor=principal.actor, action="source.poll_requested", target=f"source:{name}"
    )
    session.commit()
    return page(request, "action_result.html", {"message": f"poll of {name} queued"})
