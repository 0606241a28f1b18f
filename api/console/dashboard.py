"""The dashboard: throughput, queues, workers, destination health, sources, newest failures and
arrivals. Each panel is the API's own monitoring answer (the same route functions), rendered; the
page re-fetches its panels when the events WebSocket reports something."""

from __future__ import annotations

import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.console.render import page
from api.console.session import ConsoleUser, principal_of
from api.deps import SessionDep
from api.routes import monitoring as monitoring_routes
from axiom.admin import exception_admin, monitoring
from axiom.db.repositories import instances as instance_repo
from axiom.domain.auth import Role
from axiom.pipeline.poll import source_status
from workers.task_names import QUEUES

router = APIRouter(include_in_schema=False)


def _disk(request: Request) -> dict[str, Any]:
    settings = request.app.state.settings
    path = settings.data_path
    room = request.app.state.ingest_ports.spool.room
    # Ingest's own view (the watermarks with their hysteresis), the same one /ready reports.
    watermark = {
        "low_gib": round(settings.disk_low_watermark_bytes / 2**30, 1),
        "high_gib": round(settings.disk_high_watermark_bytes / 2**30, 1),
        "paused": room is not None and not room.has_room(),
    }
    try:
        usage = shutil.disk_usage(path)
    except OSError:
        return {"path": str(path), "free_pct": None, **watermark}
    return {
        "path": str(path),
        "free_gib": round(usage.free / 2**30, 1),
        "total_gib": round(usage.total / 2**30, 1),
        "free_pct": round(100 * usage.free / usage.total, 1) if usage.total else None,
        **watermark,
    }


def panels(request: Request, principal: Any, session: Any) -> dict[str, Any]:
    settings = request.app.state.settings
    return {
        "counts": instance_repo.count_by_status(session),
        "recent": instance_repo.recent_instances(session, limit=10),
        "queues": monitoring.queue_depths(settings, QUEUES),
        "workers": monitoring_routes.worker_status(request, principal),
        "destinations": monitoring_routes.destination_health(request, principal, session),
        "sources": source_status(session),
        "failures": exception_admin.list_exceptions(session, exception_admin.ExceptionFilter(limit=10)),
        "disk": _disk(request),
    }


@router.get("/")
def dashboard(request: Request, principal: ConsoleUser, session: SessionDep) -> Response:
    return page(request, "dashboard.html", panels(request, principal, session))


@router.get("/console/partials/dashboard")
def dashboard_panels(request: Request, principal: ConsoleUser, session: SessionDep) -> Response:
    return page(request, "dashboard_panels.html", panels(request, principal, session))


@router.get("/console/throughput.json")
def throughput(
    _: ConsoleUser, session: SessionDep, minutes: Annotated[int, Query(ge=1, le=1440)] = 60
) -> list[dict[str, Any]]:
    """Received and processed per minute (UTC), oldest first: the chart's data."""
    return monitoring.throughput(session, minutes)


def _same_origin(websocket: WebSocket) -> bool:
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == websocket.headers.get("host")


@router.websocket("/console/events")
async def events(websocket: WebSocket) -> None:
    """The monitoring events for the signed-in browser (the session cookie; same origin only)."""

    def who() -> Any:
        with websocket.app.state.sessions() as session:
            return principal_of(session, websocket)

    principal = await run_in_threadpool(who) if _same_origin(websocket) else None
    if principal is None or not principal.role.allows(Role.USER):
        await websocket.close(code=1008, reason="sign in first")
        return
    # The same stream, and the same per-principal cap, as the API's events WebSocket.
    with monitoring_routes.connection_slot(websocket.app, principal) as admitted:
        if not admitted:
            await websocket.close(code=1013, reason="too many event streams for this user")
            return
        await websocket.accept()
        await monitoring_routes.stream_events(websocket)
