"""Received instances and the study/series rows that count them. On the hot path: one call per
instance, so each function keeps its round trips few."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import DicomInstance, DicomSeries, DicomStudy
from axiom.domain.instances import InstanceStatus

_Row = TypeVar("_Row", DicomStudy, DicomSeries, DicomInstance)
# Statuses after which an instance needs no more work: they stamp processed_at.
FINAL_STATUSES = frozenset(
    {
        InstanceStatus.DELIVERED,
        InstanceStatus.PARTIAL,
        InstanceStatus.FAILED,
        InstanceStatus.NO_MATCH,
        InstanceStatus.QUARANTINED,
    }
)


def upsert_instance(
    session: Session,
    *,
    study_instance_uid: str,
    series_instance_uid: str,
    sop_instance_uid: str,
    sop_class_uid: str | None,
    modality: str | None,
    transfer_syntax_uid: str | None,
    patient_id_hash: str | None,
    study_date: str | None,
    calling_ae: str | None,
    called_ae: str | None,
    source: str | None,
    spool_path: str | None,
    size_bytes: int | None,
    status: InstanceStatus,
    matched_rules: list[str] | None = None,
    destinations: list[str] | None = None,
    error: str | None = None,
    raw_values: dict[str, str] | None = None,
    accession_number: str | None = None,
) -> DicomInstance:
    """Record the receipt of one instance; a second receipt of a SOP Instance UID updates its row.

    Study and series rows are created on first sight, and their instance counts move only for
    instances not seen before, so re-sending a study leaves the counts right. Safe against another
    process inserting the same study, series or instance at the same moment.
    """
    receipt: dict[str, Any] = {
        "sop_class_uid": sop_class_uid,
        "transfer_syntax_uid": transfer_syntax_uid,
        "calling_ae": calling_ae,
        "called_ae": called_ae,
        "source": source,
        "spool_path": spool_path,
        "size_bytes": size_bytes,
        "status": status,
        # The outcome travels with the receipt, so a routed instance costs one write, not two.
        "matched_rules": matched_rules,
        "destinations": destinations,
        "error": error,
        "raw_values": raw_values,
        "accession_number": accession_number,
        "processed_at": utcnow() if status in FINAL_STATUSES else None,
    }
    existing = _record_rereceipt(session, sop_instance_uid, receipt)
    if existing is not None:
        return existing

    ids = session.execute(
        select(DicomSeries.id, DicomSeries.study_id).where(
            DicomSeries.series_instance_uid == series_instance_uid
        )
    ).one_or_none()
    if ids is not None:
        series_id, study_id = ids
    else:
        study = _get_or_create(
            session,
            DicomStudy,
            select(DicomStudy).where(DicomStudy.study_instance_uid == study_instance_uid),
            lambda: DicomStudy(
                study_instance_uid=study_instance_uid,
                patient_id_hash=patient_id_hash,
                study_date=study_date,
                instance_count=0,
            ),
        )
        study_id = study.id
        series = _get_or_create(
            session,
            DicomSeries,
            select(DicomSeries).where(DicomSeries.series_instance_uid == series_instance_uid),
            lambda: DicomSeries(
                series_instance_uid=series_instance_uid,
                study_id=study_id,
                modality=modality,
                instance_count=0,
            ),
        )
        series_id = series.id

    instance = DicomInstance(
        sop_instance_uid=sop_instance_uid, series_id=series_id, received_count=1, **receipt
    )
    try:
        with session.begin_nested():
            session.add(instance)
    except IntegrityError:
        # Another process recorded this SOP Instance UID since our look-up: count it as a re-receipt.
        existing = _record_rereceipt(session, sop_instance_uid, receipt)
        if existing is None:
            raise
        return existing

    # Increments in SQL, not read-modify-write, so concurrent workers do not lose counts.
    now = utcnow()
    session.execute(
        update(DicomStudy)
        .where(DicomStudy.id == study_id)
        .values(instance_count=DicomStudy.instance_count + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(DicomSeries)
        .where(DicomSeries.id == series_id)
        .values(instance_count=DicomSeries.instance_count + 1)
        .execution_options(synchronize_session=False)
    )
    return instance


def _record_rereceipt(
    session: Session, sop_instance_uid: str, receipt: dict[str, Any]
) -> DicomInstance | None:
    """Update the row of an instance received before, in one UPDATE ... RETURNING; None if new."""
    stmt = (
        update(DicomInstance)
        .where(DicomInstance.sop_instance_uid == sop_instance_uid)
        .values(
            received_count=DicomInstance.received_count + 1,
            received_at=utcnow(),
            **receipt,
        )
        .returning(DicomInstance)
        .execution_options(populate_existing=True, synchronize_session=False)
    )
    return session.scalars(stmt).one_or_none()


def _get_or_create(session: Session, model: type[_Row], lookup: Any, build: Callable[[], _Row]) -> _Row:
    row = session.scalars(lookup).one_or_none()
    if row is not None:
        return row
    row = build()
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Lost a race with another process inserting the same UID: theirs is committed now (the
        # unique index made our insert wait for it), so the look-up finds it.
        existing = session.scalars(lookup).one_or_none()
        if existing is None:
            raise
        return existing
    return row


def set_instance_status(
    session: Session,
    instance_id: int,
    status: InstanceStatus,
    *,
    matched_rules: list[str] | None = None,
    destinations: list[str] | None = None,
    error: str | None = None,
) -> None:
    """Move an instance to ``status``; final statuses stamp ``processed_at``. None leaves a field as is."""
    values: dict[str, Any] = {"status": status}
    if status in FINAL_STATUSES:
        values["processed_at"] = utcnow()
    if matched_rules is not None:
        values["matched_rules"] = list(matched_rules)
    if destinations is not None:
        values["destinations"] = list(destinations)
    if error is not None:
        values["error"] = error
    result = session.execute(update(DicomInstance).where(DicomInstance.id == instance_id).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise LookupError(f"no instance with id {instance_id}")


def settle_status(session: Session, instance_id: int, *, delivered: int, failed: int) -> None:
    """After a retried delivery: a partial or failed instance follows its ledger (delivered once
    every destination has it). Other statuses (waiting, quarantined, ...) are left alone."""
    if delivered + failed == 0:
        return
    status = InstanceStatus.DELIVERED if not failed else InstanceStatus.PARTIAL
    if not delivered:
        status = InstanceStatus.FAILED
    session.execute(
        update(DicomInstance)
        .where(
            DicomInstance.id == instance_id,
            DicomInstance.status.in_([InstanceStatus.PARTIAL, InstanceStatus.FAILED]),
        )
        .values(status=status, processed_at=utcnow())
    )


def recent_instances(session: Session, limit: int = 100) -> list[DicomInstance]:
    stmt = select(DicomInstance).order_by(DicomInstance.received_at.desc(), DicomInstance.id.desc())
    return list(session.scalars(stmt.limit(limit)))


def count_by_status(session: Session) -> dict[str, int]:
    """Instances per status value; statuses with no instance are absent."""
    rows = session.execute(select(DicomInstance.status, func.count()).group_by(DicomInstance.status)).all()
    return {str(status.value): count for status, count in rows}


def series_instance_count(session: Session, series_instance_uid: str) -> int:
    """Instances of the series recorded so far (0 for a series not seen yet)."""
    count = session.scalar(
        select(DicomSeries.instance_count).where(DicomSeries.series_instance_uid == series_instance_uid)
    )
    return int(count or 0)
