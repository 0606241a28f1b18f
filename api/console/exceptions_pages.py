"""The exception log: filters, paging, and retry or discard of the selected rows or of every row
that matches (the bulk service the API's POST /api/v1/exceptions/bulk uses)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import ConsoleAdmin, ConsoleUser
from api.deps import SessionDep
from api.routes.exceptions import _runtime
from axiom.admin import exception_bulk

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
STATUS = "^(|open|dead|resolved|discarded)$"


MINUTES = "^[0-9]{0,7}$"


def _query(
    status: str, destination: str, stage: str, error_class: str, older: str, newer: str
) -> exception_bulk.ExceptionQuery:
    return exception_bulk.ExceptionQuery(
        status or None,
        destination or None,
        stage or None,
        error_class or None,
        int(older) if older else None,
        int(newer) if newer else None,
    )


@router.get("/exceptions")
def exception_log(
    request: Request,
    _: ConsoleUser,
    session: SessionDep,
    status: Annotated[str, Query(pattern=STATUS)] = "",
    destination: Annotated[str, Query(max_length=64)] = "",
    stage: Annotated[str, Query(max_length=32)] = "",
    error_class: Annotated[str, Query(max_length=128)] = "",
    older_than_minutes: Annotated[str, Query(pattern=MINUTES)] = "",
    newer_than_minutes: Annotated[str, Query(pattern=MINUTES)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=200_000)] = 1,
) -> Response:
    query = _query(status, destination, stage, error_class, older_than_minutes, newer_than_minutes)
    total, rows = exception_bulk.search(session, query, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    context = {
        "rows": rows,
        "total": total,
        "page_no": page_no,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "q": {k: v for k, v in request.query_params.items() if k != "page"},
        "facets": exception_bulk.facets(session),
        "message": None,
    }
    name = "exceptions_results.html" if request.headers.get("hx-target") == "results" else "exceptions.html"
    return page(request, name, context)


@router.post("/exceptions/bulk")
async def bulk(
    request: Request,
    principal: ConsoleAdmin,
    action: Annotated[str, Form(pattern="^(retry|discard)$")],
    scope: Annotated[str, Form(pattern="^(selected|matching)$")] = "selected",
    ids: Annotated[list[int] | None, Form()] = None,
    status: Annotated[str, Form(pattern=STATUS)] = "",
    destination: Annotated[str, Form(max_length=64)] = "",
    stage: Annotated[str, Form(max_length=32)] = "",
    error_class: Annotated[str, Form(max_length=128)] = "",
    older_than_minutes: Annotated[str, Form(pattern=MINUTES)] = "",
    newer_than_minutes: Annotated[str, Form(pattern=MINUTES)] = "",
) -> Response:
    runtime = _runtime(request)
    query = _query(status, destination, stage, error_class, older_than_minutes, newer_than_minutes)
    if scope == "matching":
        with runtime.sessions() as session:
            chosen = exception_bulk.matching_ids(session, query)
        selection = {"filter": query.describe()}
    else:
        chosen, selection = list(ids or []), None
    result = await run_in_threadpool(
        exception_bulk.bulk_act, runtime, action, chosen, actor=principal.actor, selection=selection
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "no row selected"
    return page(
        request, "action_result.html", {"message": f"{action} of {result.requested} row(s): {summary}"}
    )
