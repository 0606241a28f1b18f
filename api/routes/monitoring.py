from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from axiom.db.repositories import inference as inference_repo
from axiom.db.repositories import instances as instance_repo

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
