from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from axiom.db.repositories import inference as inference_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.repositories import sources as sources_repo
from axiom.services.poll_source import source_status
from beat.schedule import schedule_overview

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])


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


class SourceStatusOut(BaseModel):
    name: str
    type: str
    enabled: bool
    last_status: str | None  # ok, partial, failed; None before the first poll
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
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
