"""Monitoring for any role: queues, workers, throughput, destination health and a WebSocket of
live events; instance and study search are in ``study_search.py``, exceptions in ``exceptions.py``."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from pydantic import AfterValidator, BaseModel
from starlette.concurrency import run_in_threadpool

from api.deps import CurrentUser, SessionDep, principal_from
from axiom.admin import monitoring
from axiom.db.repositories import inference as inference_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.repositories import sources as sources_repo
from axiom.domain.auth import Principal, Role
from axiom.domain.masking import mask_text
from axiom.infra.delivery_guard import RedisGuard
from axiom.infra.events import subscribe
from axiom.pipeline.poll import source_status
from beat.schedule import schedule_overview
from workers.task_names import QUEUES

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])

UID = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9.]+$")]
DA = Annotated[str | None, Query(pattern=r"^[0-9]{8}$", description="a DICOM date, YYYYMMDD")]
WORKER_PING_SECONDS = 1.0


class InstanceOut(BaseModel):
    sop_instance_uid: str
    sop_class_uid: str | None
    status: str
    source: str | None
    calling_ae: str | None
    received_at: datetime | None
    processed_at: datetime | None
    destinations: list[str] | None
    matched_rules: list[str] | None


class InstancesOut(BaseModel):
    counts: dict[str, int]
    instances: list[InstanceOut]


@router.get("/instances", response_model=InstancesOut)
def recent_instances(
    _: CurrentUser, session: SessionDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> InstancesOut:
    rows = instance_repo.recent_instances(session, limit=limit)
    return InstancesOut(
        counts=instance_repo.count_by_status(session),
        instances=[InstanceOut.model_validate(row, from_attributes=True) for row in rows],
    )


# An error message may quote a peer's URL (an HTTP client's "... for url: https://h/?sig=..."):
# shown through the same masking as configuration.
ErrorText = Annotated[str | None, AfterValidator(lambda text: None if text is None else mask_text(text))]


class SourceStatusOut(BaseModel):
    name: str
    type: str
    enabled: bool
    last_status: str | None  # ok, partial, failed; None before the first poll
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: ErrorText
    found: int  # instances new on the peer at the last poll
    retrieved: int
    failed: int
    total_retrieved: int
    consecutive_failures: int
    next_poll_after: datetime | None  # set while a failing source backs off
    watermark: datetime | None
    polling: bool


@router.get("/sources", response_model=list[SourceStatusOut])
def sources(_: CurrentUser, session: SessionDep) -> list[SourceStatusOut]:
    """Each configured source with the outcome of its last poll."""
    return [SourceStatusOut.model_validate(item) for item in source_status(session)]


class ScheduleEntryOut(BaseModel):
    name: str
    task: str
    every_seconds: float | None
    cron: str | None


@router.get("/schedule", response_model=list[ScheduleEntryOut])
def schedule(_: CurrentUser, session: SessionDep, request: Request) -> list[ScheduleEntryOut]:
    """What Beat runs: the periodic tasks (retry sweep, spool recovery, crosswalk sync, completion
    check, header clean-up) and one poll per enabled source."""
    configs = sources_repo.load_source_configs(session, enabled_only=True).values()
    return [
        ScheduleEntryOut.model_validate(row) for row in schedule_overview(request.app.state.settings, configs)
    ]


class ModelStatsOut(BaseModel):
    model: str
    version: str
    status: str  # ok, skipped, failed
    results: int
    mean_duration_ms: float


class ModelsOut(BaseModel):
    # "name:version" -> the execution provider its latest run used (CUDAExecutionProvider, ...).
    providers: dict[str, str]
    stats: list[ModelStatsOut]


@router.get("/models", response_model=ModelsOut)
def models(_: CurrentUser, session: SessionDep) -> ModelsOut:
    """The image models the `infer` action ran: where each runs, and results by outcome (docs/ai.md)."""
    return ModelsOut(
        providers=inference_repo.providers_in_use(session),
        stats=[
            ModelStatsOut(model=m, version=v, status=s, results=n, mean_duration_ms=round(avg, 3))
            for m, v, s, n, avg in inference_repo.model_stats(session)
        ],
    )


@router.get("/queues")
def queue_depths(request: Request, _: CurrentUser) -> dict[str, int | None]:
    """Messages waiting per queue (RabbitMQ, or the embedded broker's folder); null: not readable."""
    return monitoring.queue_depths(request.app.state.settings, QUEUES)


class WorkersOut(BaseModel):
    mode: str  # "distributed" or "embedded"
    workers: dict[str, str]  # node name -> "ok" (answered the ping)
    note: str | None = None


@router.get("/workers", response_model=WorkersOut)
def worker_status(request: Request, _: CurrentUser) -> WorkersOut:
    """Distributed: the workers that answer a Celery ping within a second. Embedded: the
    filesystem broker has no remote control, so only the queues and throughput tell."""
    settings = request.app.state.settings
    if settings.embedded_broker:
        return WorkersOut(
            mode="embedded",
            workers={},
            note="the embedded broker cannot ping workers; see /queues and /throughput",
        )
    try:
        replies = request.app.state.ingest_ports.celery().control.ping(timeout=WORKER_PING_SECONDS) or []
    except Exception as exc:
        return WorkersOut(mode="distributed", workers={}, note=f"ping failed: {type(exc).__name__}")
    workers = {name: "ok" for reply in replies for name in reply}
    return WorkersOut(mode="distributed", workers=workers, note=None if workers else "no worker answered")


class MinuteOut(BaseModel):
    minute: str
    received: int
    processed: int


@router.get("/throughput", response_model=list[MinuteOut])
def throughput(
    _: CurrentUser, session: SessionDep, minutes: Annotated[int, Query(ge=1, le=1440)] = 60
) -> list[dict[str, Any]]:
    """Instances received and processed per minute (UTC), oldest first."""
    return monitoring.throughput(session, minutes)


class DestinationHealthOut(BaseModel):
    name: str
    type: str
    enabled: bool
    circuit: str
    consecutive_failures: int | None
    backlog: int
    dead_letters: int
    last_error: ErrorText
    last_error_at: datetime | None


@router.get("/destinations", response_model=list[DestinationHealthOut])
def destination_health(request: Request, _: CurrentUser, session: SessionDep) -> list[DestinationHealthOut]:
    """Per destination: circuit breaker state (shared through Redis when AXIOM_CACHE_URL is set;
    otherwise each worker process keeps its own and this says "unknown"), backlog of open
    exception rows, dead letters and the last error."""
    settings = request.app.state.settings
    guard = RedisGuard(settings.cache_url) if settings.cache_url else None
    try:
        rows = monitoring.destination_health(session, guard)
    finally:
        if guard is not None:
            guard.close()
    return [DestinationHealthOut.model_validate(row, from_attributes=True) for row in rows]


FIRST_MESSAGE_SECONDS = 5.0


def _principal(app: Any, token: str | None, api_key: str | None) -> Principal | str:
    with app.state.sessions() as session:
        return principal_from(session, app.state.jwt_secret, token, api_key)


def _header_credentials(websocket: WebSocket) -> tuple[str | None, str | None]:
    bearer = websocket.headers.get("authorization", "")
    token = bearer.removeprefix("Bearer ").strip() if bearer.startswith("Bearer ") else None
    return token, websocket.headers.get("x-api-key")


async def _first_message_credentials(websocket: WebSocket) -> tuple[str | None, str | None]:
    """``{"token": ...}`` or ``{"api_key": ...}`` as the first text frame (browsers cannot set headers)."""
    try:
        first = await asyncio.wait_for(websocket.receive_json(), FIRST_MESSAGE_SECONDS)
    except (TimeoutError, ValueError, KeyError, WebSocketDisconnect, RuntimeError):
        return None, None
    if not isinstance(first, dict):
        return None, None
    token, api_key = first.get("token"), first.get("api_key")
    return (token if isinstance(token, str) else None), (api_key if isinstance(api_key, str) else None)


@contextlib.contextmanager
def connection_slot(app: Any, principal: Principal) -> Iterator[bool]:
    """Counts a principal's open event streams; False when it already holds its share."""
    counts: Counter[str] = app.state.websocket_connections
    limit = app.state.settings.websocket_max_per_principal
    key = principal.actor
    if counts[key] >= limit:
        yield False
        return
    counts[key] += 1
    try:
        yield True
    finally:
        counts[key] -= 1


@router.websocket("/events")
async def events(websocket: WebSocket) -> None:
    """Live events as JSON text frames: instance.received / routed / delivered / failed, with UIDs,
    the correlation id, destination and status (no patient data). Credential: the ``Authorization`` /
    ``X-API-Key`` header, or ``{"token": ...}`` / ``{"api_key": ...}`` as the first message; never the
    query string (it ends up in access logs and browser history). Each principal may hold
    ``AXIOM_WEBSOCKET_MAX_PER_PRINCIPAL`` streams at once."""
    if {"token", "api_key"} & set(websocket.query_params):
        await websocket.close(code=1008, reason="credentials go in a header or the first message")
        return
    token, api_key = _header_credentials(websocket)
    in_header = bool(token or api_key)
    if not in_header:
        await websocket.accept()
        token, api_key = await _first_message_credentials(websocket)
    principal = await run_in_threadpool(_principal, websocket.app, token, api_key)
    if not isinstance(principal, str) and not principal.role.allows(Role.USER):
        principal = "this needs the role user"
    if isinstance(principal, str):
        await websocket.close(code=1008, reason=principal)
        return
    with connection_slot(websocket.app, principal) as admitted:
        if not admitted:
            await websocket.close(code=1013, reason="too many event streams for this credential")
            return
        if in_header:
            await websocket.accept()
        await stream_events(websocket)


async def stream_events(websocket: WebSocket) -> None:
    """Forward live events to an accepted WebSocket until it closes (the API's and the console's)."""
    subscription = await run_in_threadpool(subscribe, websocket.app.state.settings)
    receiver = asyncio.ensure_future(websocket.receive())
    try:
        while True:
            if receiver.done():
                if receiver.result().get("type") == "websocket.disconnect":
                    break
                receiver = asyncio.ensure_future(websocket.receive())
            for event in await run_in_threadpool(subscription.poll, 0.5):
                await websocket.send_json(event)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        receiver.cancel()
        with contextlib.suppress(Exception):
            await run_in_threadpool(subscription.close)
