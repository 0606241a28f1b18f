"""Instance and study search for the monitoring API (``/api/v1/monitoring/instances/search`` and
``/studies``): paginated and counted on the server; accession numbers only for admins and above."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from api.routes.monitoring import DA, UID, InstanceOut
from axiom.admin import monitoring, study_views
from axiom.domain.instances import InstanceStatus

router = APIRouter(prefix="/api/v1/monitoring", tags=["monitoring"])


class FoundInstance(InstanceOut):
    series_instance_uid: str
    study_instance_uid: str
    error: str | None


class InstancePage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[FoundInstance]


@router.get("/instances/search", response_model=InstancePage)
def search_instances(
    _: CurrentUser,
    session: SessionDep,
    sop_instance_uid: UID = None,
    series_instance_uid: UID = None,
    study_instance_uid: UID = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    status: InstanceStatus | None = None,
    received_from: datetime | None = None,
    received_to: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> InstancePage:
    """Instances with their processing status, newest first, by UID, source, status and arrival time."""
    where = monitoring.InstanceFilter(
        sop_instance_uid,
        series_instance_uid,
        study_instance_uid,
        source,
        status.value if status else None,
        received_from,
        received_to,
    )
    total, rows = monitoring.search_instances(session, where, limit=limit, offset=offset)
    items = [
        FoundInstance.model_validate(
            {
                **InstanceOut.model_validate(row, from_attributes=True).model_dump(),
                "series_instance_uid": series,
                "study_instance_uid": study,
                "error": row.error,
            }
        )
        for row, series, study in rows
    ]
    return InstancePage(total=total, limit=limit, offset=offset, items=items)


class StudyOut(BaseModel):
    study_instance_uid: str
    study_date: str | None
    instance_count: int
    created_at: datetime | None
    updated_at: datetime | None
    # The instances' distinct AccessionNumbers; null for roles below admin (PHI-adjacent).
    accession_numbers: list[str] | None = None


class StudyPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[StudyOut]


@router.get("/studies", response_model=StudyPage)
def search_studies(
    principal: CurrentUser,
    session: SessionDep,
    study_instance_uid: UID = None,
    study_date_from: DA = None,
    study_date_to: DA = None,
    accession_number: Annotated[
        str | None, Query(max_length=16, description="an instance's AccessionNumber (admin and above)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> StudyPage:
    """Studies newest first; admins and above also get (and may search by) accession numbers."""
    phi = study_views.shows_phi(principal.role)
    if accession_number and not phi:
        raise HTTPException(
            403, f"searching by accession number needs the role admin (you have {principal.role.value})"
        )
    where = study_views.StudyFilter(
        study_instance_uid=study_instance_uid,
        study_date_from=study_date_from,
        study_date_to=study_date_to,
        accession_number=accession_number,
    )
    total, rows = study_views.search_studies(session, where, limit=limit, offset=offset)
    accessions = study_views.study_accessions(session, [row.id for row in rows]) if phi else {}
    items = [
        StudyOut.model_validate(row, from_attributes=True).model_copy(
            update={"accession_numbers": accessions.get(row.id, []) if phi else None}
        )
        for row in rows
    ]
    return StudyPage(total=total, limit=limit, offset=offset, items=items)
