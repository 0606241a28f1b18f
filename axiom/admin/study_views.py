"""Study search by what operators know (UID, accession, date, sending AE, status, destination) and
one study's timeline: arrivals, rules matched, deliveries, completion groups and exception rows, in
time order.

Read-only queries for the console and the API. The only patient-adjacent value stored is each
instance's AccessionNumber: callers show it, and search by it, only for ``PHI_ROLE`` and above
(``shows_phi``); ``MASKED_PHI`` stands in for it otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from axiom.db.models import (
    CompletionGroup,
    Delivery,
    DicomInstance,
    DicomSeries,
    DicomStudy,
    ExceptionLog,
)
from axiom.domain.auth import PHI_ROLE, Role


@dataclass(frozen=True)
class StudyFilter:
    study_instance_uid: str | None = None
    study_date_from: str | None = None  # YYYYMMDD
    study_date_to: str | None = None
    calling_ae: str | None = None
    status: str | None = None  # an instance status some instance of the study has
    destination: str | None = None  # a destination some instance of the study was routed to
    accession_number: str | None = None  # an instance's AccessionNumber (PHI_ROLE only)


MASKED_PHI = "<masked>"


def shows_phi(role: Role) -> bool:
    """Whether ``role`` may see and search by accession numbers."""
    return role.allows(PHI_ROLE)


def _studies_with_instances(where: StudyFilter) -> Any | None:
    """The ids of studies with an instance that matches, as one semi-join computed once (a
    correlated EXISTS per study made SQLite walk every matching instance for every study)."""
    conditions = []
    if where.calling_ae:
        conditions.append(DicomInstance.calling_ae == where.calling_ae)
    if where.status:
        conditions.append(DicomInstance.status == where.status)
    if where.accession_number:
        conditions.append(DicomInstance.accession_number == where.accession_number)
    if not conditions and not where.destination:
        return None
    matching = select(DicomSeries.study_id).join(DicomInstance, DicomInstance.series_id == DicomSeries.id)
    if where.destination:
        matching = matching.join(Delivery, Delivery.instance_id == DicomInstance.id)
        conditions.append(Delivery.destination == where.destination)
    return DicomStudy.id.in_(matching.where(*conditions))


def search_studies(
    session: Session, where: StudyFilter, *, limit: int, offset: int
) -> tuple[int, list[DicomStudy]]:
    """(total, one page of studies), newest first."""
    stmt = select(DicomStudy)
    if where.study_instance_uid:
        stmt = stmt.where(DicomStudy.study_instance_uid == where.study_instance_uid)
    if where.study_date_from:
        stmt = stmt.where(DicomStudy.study_date >= where.study_date_from)
    if where.study_date_to:
        stmt = stmt.where(DicomStudy.study_date <= where.study_date_to)
    instance_condition = _studies_with_instances(where)
    if instance_condition is not None:
        stmt = stmt.where(instance_condition)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = session.scalars(stmt.order_by(DicomStudy.id.desc()).limit(limit).offset(offset)).all()
    return total, list(page)


def study_accessions(session: Session, study_ids: list[int]) -> dict[int, list[str]]:
    """The distinct accession numbers of each study's instances (one indexed query for a page)."""
    if not study_ids:
        return {}
    rows = session.execute(
        select(DicomSeries.study_id, DicomInstance.accession_number)
        .join(DicomInstance, DicomInstance.series_id == DicomSeries.id)
        .where(DicomSeries.study_id.in_(study_ids), DicomInstance.accession_number.is_not(None))
        .distinct()
    )
    found: dict[int, list[str]] = {}
    for study_id, accession in rows:
        found.setdefault(study_id, []).append(str(accession))
    return {k: sorted(v) for k, v in found.items()}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime | None
    kind: str  # received, routed, delivered, failed, exception, completion
    sop_instance_uid: str
    summary: str
    status: str


@dataclass
class StudyTimeline:
    study: DicomStudy
    instances: list[tuple[DicomInstance, str, str | None]] = field(default_factory=list)
    entries: list[TimelineEntry] = field(default_factory=list)
    exceptions: list[ExceptionLog] = field(default_factory=list)
    groups: list[CompletionGroup] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)


def study_timeline(session: Session, study_instance_uid: str, *, limit: int = 500) -> StudyTimeline | None:
    study = session.scalars(
        select(DicomStudy).where(DicomStudy.study_instance_uid == study_instance_uid)
    ).first()
    if study is None:
        return None
    out = StudyTimeline(study=study)
    rows = session.execute(
        select(DicomInstance, DicomSeries.series_instance_uid, DicomSeries.modality)
        .join(DicomSeries, DicomInstance.series_id == DicomSeries.id)
        .where(DicomSeries.study_id == study.id)
        .order_by(DicomInstance.received_at, DicomInstance.id)
        .limit(limit)
    ).all()
    out.instances = [(r[0], r[1], r[2]) for r in rows]
    by_id = {r[0].id: r[0] for r in rows}
    for inst in by_id.values():
        who = inst.calling_ae or inst.source or "unknown"
        out.entries.append(
            TimelineEntry(inst.received_at, "received", inst.sop_instance_uid, f"from {who}", "received")
        )
        if inst.processed_at is not None:
            rules = ", ".join(inst.matched_rules or []) or "no rule"
            dests = ", ".join(inst.destinations or []) or "none"
            summary = f"rules matched: {rules}; destinations: {dests}"
            if inst.error:
                summary += f"; {inst.error}"
            out.entries.append(
                TimelineEntry(inst.processed_at, "routed", inst.sop_instance_uid, summary, inst.status.value)
            )
    if by_id:
        for d in session.scalars(select(Delivery).where(Delivery.instance_id.in_(list(by_id)))):
            out.entries.append(
                TimelineEntry(
                    d.updated_at, "delivery", d.sop_instance_uid, f"to {d.destination}", d.status.value
                )
            )
    out.exceptions = list(
        session.scalars(
            select(ExceptionLog)
            .where(ExceptionLog.study_instance_uid == study_instance_uid)
            .order_by(ExceptionLog.created_at, ExceptionLog.id)
            .limit(limit)
        )
    )
    for e in out.exceptions:
        where = e.destination or e.stage
        out.entries.append(
            TimelineEntry(
                e.created_at,
                "exception",
                e.sop_instance_uid,
                f"#{e.id} {where}: {e.error_class}: {e.message} (attempts {e.attempts})",
                e.status.value,
            )
        )
    out.groups = list(
        session.scalars(
            select(CompletionGroup).where(CompletionGroup.study_instance_uid == study_instance_uid)
        )
    )
    for g in out.groups:
        out.entries.append(
            TimelineEntry(
                g.fired_at or g.last_arrival_at,
                "completion",
                g.group_uid,
                f"{g.level} group of {g.rule}: {g.received_count} received, fired {g.fire_count}x",
                g.status.value,
            )
        )
    out.entries.sort(key=lambda e: (e.at is None, _naive(e.at)))
    out.destinations = sorted({e.destination for e in out.exceptions if e.destination})
    return out


def _naive(value: datetime | None) -> datetime:
    if value is None:
        return datetime.min
    return value.replace(tzinfo=None) if value.tzinfo else value
