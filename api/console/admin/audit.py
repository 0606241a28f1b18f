"""The audit log for superusers: read-only, filtered by actor, action and target, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import func, select
from starlette.responses import Response

from api.console.render import page
from api.console.session import SuperPage
from api.deps import SessionDep
from axiom.db.models import AuditLog

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 100


@router.get("/admin/audit")
def audit_log(
    request: Request,
    _: SuperPage,
    session: SessionDep,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    target: Annotated[str, Query(max_length=256)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=100_000)] = 1,
) -> Response:
    stmt = select(AuditLog)
    if actor:
        stmt = stmt.where(AuditLog.actor == actor)
    if action:
        stmt = stmt.where(AuditLog.action.startswith(action, autoescape=True))
    if target:
        stmt = stmt.where(AuditLog.target.startswith(target, autoescape=True))
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = session.scalars(
        stmt.order_by(AuditLog.at.desc(), AuditLog.id.desc())
        .limit(PAGE_SIZE)
        .offset((page_no - 1) * PAGE_SIZE)
    ).all()
    context = {
        "rows": rows,
        "total": total,
        "page_no": page_no,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "q": {k: v for k, v in request.query_params.items() if k != "page"},
    }
    return page(request, "admin/audit.html", context)
