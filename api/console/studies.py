"""Study search and one study's timeline, with retry and discard of its exception rows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import ConsoleAdmin, ConsoleUser
from api.deps import SessionDep
from api.routes.exceptions import _runtime
from axiom.admin import exception_bulk, study_views
from axiom.admin import instance_changes as changes
from axiom.admin.config_dump import dump_destinations
from axiom.domain.instances import InstanceStatus
from axiom.infra.anon_secret import deployment_secret

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
# Timeline entries shown before "Show all" (a study of 100 instances has about 400).
TIMELINE_ROWS = 150
UID = Annotated[str, Query(max_length=64, pattern=r"^[0-9.]*$")]
DATE = Annotated[str, Query(pattern=r"^([0-9]{4}-?[0-9]{2}-?[0-9]{2})?$")]


def _da(value: str) -> str | None:
    return value.replace("-", "") or None


@router.get("/studies")
def search(
    request: Request,
    principal: ConsoleUser,
    session: SessionDep,
    study_instance_uid: UID = "",
    date_from: DATE = "",
    date_to: DATE = "",
    calling_ae: Annotated[str, Query(max_length=16)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    destination: Annotated[str, Query(max_length=64)] = "",
    accession: Annotated[str, Query(max_length=16)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=200_000)] = 1,
) -> Response:
    phi = study_views.shows_phi(principal.role)
    if accession and not phi:
        raise HTTPException(403, "searching by accession number needs the role admin")
    where = study_views.StudyFilter(
        study_instance_uid or None,
        _da(date_from),
        _da(date_to),
        calling_ae or None,
        status or None,
        destination or None,
        accession or None,
    )
    total, rows = study_views.search_studies(
        session, where, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE
    )
    accessions = study_views.study_accessions(session, [r.id for r in rows]) if phi else {}
    context = {
        "rows": rows,
        "accessions": accessions,
        "total": total,
        "page_no": page_no,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "q": dict(request.query_params),
        "statuses": [s.value for s in InstanceStatus],
        "destinations": [d["name"] for d in dump_destinations(session)],
    }
    name = "studies_results.html" if request.headers.get("hx-request") else "studies.html"
    return page(request, name, context)


@router.get("/studies/{study_instance_uid}")
def study(request: Request, study_instance_uid: str, _: ConsoleUser, session: SessionDep) -> Response:
    timeline = study_views.study_timeline(session, study_instance_uid)
    if timeline is None:
        raise HTTPException(404, "no study with this Study Instance UID was received")
    context = {"t": timeline, "show_all": request.query_params.get("all") == "1", "limit": TIMELINE_ROWS}
    return page(request, "study.html", context)


@router.get("/studies/{study_instance_uid}/instances/{sop_instance_uid}/changes")
async def instance_changes(
    request: Request, study_instance_uid: str, sop_instance_uid: str, principal: ConsoleUser
) -> Response:
    """What the rules did to one instance (htmx fragment): rules matched and why not, the tag diff
    rebuilt from its stored header, values masked below the PHI role."""
    found = await run_in_threadpool(
        changes.instance_changes,
        request.app.state.sessions,
        sop_instance_uid,
        anon_secret=deployment_secret(request.app.state.settings),
        phi=study_views.shows_phi(principal.role),
    )
    if found is None:
        raise HTTPException(404, "no instance with this SOP Instance UID was received")
    return page(request, "instance_changes.html", {"c": found})


@router.post("/studies/{study_instance_uid}/actions")
async def study_action(
    request: Request,
    study_instance_uid: str,
    principal: ConsoleAdmin,
    action: Annotated[str, Form(pattern="^(retry|discard)$")],
    destination: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Retry (to one destination, or every failed one) or discard this study's open and dead rows."""
    runtime = _runtime(request)
    query = exception_bulk.ExceptionQuery(
        study_instance_uid=study_instance_uid, destination=destination or None
    )
    with runtime.sessions() as session:
        ids = exception_bulk.matching_ids(session, query)
    result = await run_in_threadpool(
        exception_bulk.bulk_act,
        runtime,
        action,
        ids,
        actor=principal.actor,
        selection={"filter": query.describe()},
    )
    summary = ", ".join(f"{n} {k}" for k, n in sorted(result.outcomes.items())) or "nothing to act on"
    return page(request, "action_result.html", {"message": f"{action}: {summary}"})
