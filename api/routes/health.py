"""Liveness (/health), readiness (/ready) and Prometheus metrics (/metrics)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from api.scrape import StateCollector
from axiom import metrics
from axiom.admin import monitoring
from workers.task_names import QUEUES

router = APIRouter(tags=["health"])


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]
    # "model:version" -> the execution provider its latest run used (CUDAExecutionProvider, ...);
    # informational: a model on the CPU fallback does not make the API unready.
    models: dict[str, str] = {}


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers (no credential, no dependency checked)."""
    return {"status": "ok"}


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "a dependency failed; `checks` names it"}},
)
def ready(request: Request, session: SessionDep) -> JSONResponse:
    """Readiness for probes and load balancers (no credential): the database, the broker and the
    result backend answer, and the data volume has room (else ingest is paused). 503 names the ones that failed (only their error class, no detail).
    ``models`` names the execution provider each image model's latest run used."""
    checks = monitoring.readiness(request.app.state.settings, session)
    room = request.app.state.ingest_ports.spool.room
    if room is not None:
        checks["disk"] = room.describe()
    ok = all(value.startswith("ok") for value in checks.values())
    models = monitoring.model_providers(session) if checks["database"].startswith("ok") else {}
    body = Readiness(status="ready" if ok else "unavailable", checks=checks, models=models)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
def prometheus_metrics(request: Request, _: CurrentUser, session: SessionDep) -> Response:
    """Prometheus exposition (any role; ``Authorization: Bearer <api key>`` suits a scraper):
    every Axiom process's counters and histograms, and the state read now (api/scrape.py)."""
    settings = request.app.state.settings
    state = CollectorRegistry()
    state.register(StateCollector(settings, session, QUEUES))
    # The state first: it refreshes axiom_disk_free_bytes, which the process registry then shows.
    scraped = generate_latest(state)
    return Response(
        generate_latest(metrics.registry(settings.metrics_path)) + scraped, media_type=CONTENT_TYPE_LATEST
    )
