"""The hot path's writes for a batch of routed instances (issue 17): a few bulk statements per batch
instead of several ORM round trips per instance. Rare cases (a re-receipt, a series seen for the first
time, a concurrent insert of the same UID) take the per-instance path of ``instances``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import Delivery, DicomInstance, DicomSeries, DicomStudy, InstanceHeader, RouteAttempt
from axiom.db.repositories.deliveries import Prior
from axiom.db.repositories.instances import FINAL_STATUSES, _get_or_create, _Row, upsert_instance
from axiom.domain.instances import InstanceStatus

# Keys of upsert_instance that are not columns of dicom_instances.
_PLACEMENT = ("study_instance_uid", "series_instance_uid", "modality", "patient_id_hash", "study_date")


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _same(row: _Row) -> _Row:
    return row


def _series_ids(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(series id, study id) of every series in ``rows``, creating the ones not seen before."""
    uids = {r["series_instance_uid"] for r in rows}
    found = {
        uid: (series_id, study_id)
        for uid, series_id, study_id in session.execute(
            select(DicomSeries.series_instance_uid, DicomSeries.id, DicomSeries.study_id).where(
                DicomSeries.series_instance_uid.in_(uids)
            )
        )
    }
    for row in rows:
        uid = row["series_instance_uid"]
        if uid in found:
            continue
        new_study = DicomStudy(
            study_instance_uid=row["study_instance_uid"],
            patient_id_hash=row["patient_id_hash"],
            study_date=row["study_date"],
            instance_count=0,
        )
        study = _get_or_create(
            session,
            DicomStudy,
            select(DicomStudy).where(DicomStudy.study_instance_uid == row["study_instance_uid"]),
            partial(_same, new_study),
        )
        new_series = DicomSeries(
            series_instance_uid=uid, study_id=study.id, modality=row["modality"], instance_count=0
        )
        series = _get_or_create(
            session,
            DicomSeries,
            select(DicomSeries).where(DicomSeries.series_instance_uid == uid),
            partial(_same, new_series),
        )
        found[uid] = (series.id, study.id)
    return found


def record_instances(session: Session, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Record the receipt of each row (``upsert_instance``'s keyword arguments); their ids, in order.

    New instances go in one multi-row INSERT, their series' and studies' counts move once per series
    and study; a SOP Instance UID already recorded (or recorded by another worker meanwhile, or twice
    in this batch) is a re-receipt, recorded as ``upsert_instance`` does.
    """
    sops = [r["sop_instance_uid"] for r in rows]
    known = set(
        session.scalars(
            select(DicomInstance.sop_instance_uid).where(DicomInstance.sop_instance_uid.in_(sops))
        )
    )
    ids: dict[int, int] = {}
    fresh: dict[str, int] = {}  # SOP Instance UID -> index of its first new row
    later: list[int] = []
    for index, row in enumerate(rows):
        sop = row["sop_instance_uid"]
        if sop in known or sop in fresh:
            later.append(index)
        else:
            fresh[sop] = index
    if fresh:
        placed = _series_ids(session, [rows[i] for i in fresh.values()])
        now = utcnow()
        values = []
        for index in fresh.values():
            row = rows[index]
            status = row["status"]
            values.append(
                {
                    **{k: v for k, v in row.items() if k not in _PLACEMENT},
                    "series_id": placed[row["series_instance_uid"]][0],
                    "received_count": 1,
                    "received_at": now,
                    "processed_at": now if status in FINAL_STATUSES else None,
                    "matched_rules": row.get("matched_rules"),
                    "destinations": row.get("destinations"),
                    "error": row.get("error"),
                    "raw_values": row.get("raw_values"),
                }
            )
        stmt = (
            _insert(session)(DicomInstance)
            .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
            .returning(DicomInstance.sop_instance_uid, DicomInstance.id)
        )
        # executemany: SQLAlchemy sends it as multi-row INSERTs, compiled once for every batch size.
        inserted = {sop: id_ for sop, id_ in session.connection().execute(stmt, values)}
        series_counts: Counter[int] = Counter()
        study_counts: Counter[int] = Counter()
        for sop, index in fresh.items():
            if sop in inserted:
                ids[index] = inserted[sop]
                series_id, study_id = placed[rows[index]["series_instance_uid"]]
                series_counts[series_id] += 1
                study_counts[study_id] += 1
            else:
                later.append(index)  # another worker recorded it since our look-up
        for series_id, n in series_counts.items():
            session.execute(
                update(DicomSeries)
                .where(DicomSeries.id == series_id)
                .values(instance_count=DicomSeries.instance_count + n)
                .execution_options(synchronize_session=False)
            )
        for study_id, n in study_counts.items():
            session.execute(
                update(DicomStudy)
                .where(DicomStudy.id == study_id)
                .values(instance_count=DicomStudy.instance_count + n, updated_at=now)
                .execution_options(synchronize_session=False)
            )
    for index in sorted(later):
        ids[index] = upsert_instance(session, **rows[index]).id
    return [ids[i] for i in range(len(rows))]


def store_headers(session: Session, headers: Sequence[tuple[int, bytes, datetime]]) -> None:
    """Keep each (instance id, encoded header, received at), replacing an earlier receipt's: one
    statement."""
    if not headers:
        return
    stmt = _insert(session)(InstanceHeader)
    stmt = stmt.on_conflict_do_update(
        index_elements=[InstanceHeader.instance_id],
        set_={
            "header": stmt.excluded.header,
            "encoded": stmt.excluded.encoded,
            "received_at": stmt.excluded.received_at,
        },
    )
    rows = [{"instance_id": i, "header": None, "encoded": e, "received_at": at} for i, e, at in headers]
    session.connection().execute(stmt, rows)


def record_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update ledger rows (``deliveries.record``'s keyword arguments) in one statement."""
    if not rows:
        return
    now = utcnow()
    stmt = _insert(session)(Delivery)
    changed = {
        k: stmt.excluded[k]
        for k in ("status", "instance_id", "spool_path", "exception_id", "updated_at", "sent_hash")
    }
    stmt = stmt.on_conflict_do_update(
        index_elements=["sop_instance_uid", "content_hash", "destination"], set_=changed
    )
    session.connection().execute(stmt, [{**r, "updated_at": now} for r in rows])


def set_statuses(session: Session, statuses: dict[int, InstanceStatus]) -> None:
    """Move each instance to its status: one UPDATE per distinct status."""
    by_status: dict[InstanceStatus, list[int]] = {}
    for instance_id, status in statuses.items():
        by_status.setdefault(status, []).append(instance_id)
    now = utcnow()
    for status, ids in by_status.items():
        values: dict[str, Any] = {"status": status}
        if status in FINAL_STATUSES:
            values["processed_at"] = now
        session.execute(
            update(DicomInstance)
            .where(DicomInstance.id.in_(ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def priors_of(session: Session, contents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Prior]]:
    """The ledger rows of each (SOP Instance UID, content hash): one query for the batch."""
    wanted = set(contents)
    found: dict[tuple[str, str], list[Prior]] = {key: [] for key in wanted}
    rows = session.execute(
        select(
            Delivery.sop_instance_uid,
            Delivery.content_hash,
            Delivery.destination,
            Delivery.spool_path,
            Delivery.status,
            Delivery.sent_hash,
        ).where(Delivery.sop_instance_uid.in_({sop for sop, _ in wanted}))
    )
    for sop, content_hash, destination, spool_path, status, sent_hash in rows:
        if (sop, content_hash) in wanted:
            found[(sop, content_hash)].append(Prior(destination, spool_path, status, sent_hash))
    return found


def failed_attempts_of(session: Session, spool_paths: Sequence[str]) -> dict[str, int]:
    """Failed routing attempts of each arrival that has any: one query for the batch."""
    rows = session.execute(
        select(RouteAttempt.spool_path, RouteAttempt.attempts).where(RouteAttempt.spool_path.in_(spool_paths))
    )
    return {path: int(attempts) for path, attempts in rows}
