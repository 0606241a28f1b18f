"""The hot path's writes for a batch of routed instances (issue 17): a few bulk statements per batch
instead of several ORM round trips per instance. Rare cases (a re-receipt, a series seen for the first
time, a concurrent insert of the same UID) take the per-instance path of ``instances``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from axiom.db.base import utcnow
from axiom.db.models import Delivery, DicomInstance, DicomSeries, DicomStudy, InstanceHeader, RouteAttempt
from axiom.db.repositories.deliveries import Prior
from axiom.db.repositories.instances import FINAL_STATUSES, _get_or_create, _Row, upsert_instance
from axiom.domain.instances import InstanceStatus

# Keys of upsert_instance that are not columns of dicom_instances.
_PLACEMENT = ("study_instance_uid", "series_instance_uid", "modality", "patient_id_hash", "study_date")


@dataclass(frozen=True)
class _Statements:
    """The batch's statements, built once per dialect with bound parameters: building a statement
    and its cache key on every batch cost more than running it (~0.2 ms each on SQLite)."""

    known: Executable
    series: Executable
    insert_instances: Executable
    series_counts: Executable
    study_counts: Executable
    store_headers: Executable
    record_deliveries: Executable
    status: Executable
    final_status: Executable
    priors: Executable
    attempts: Executable


def _upsert(insert: Any, model: Any, keys: Sequence[Any], changed: Sequence[str]) -> Executable:
    stmt = insert(model)
    return stmt.on_conflict_do_update(index_elements=keys, set_={k: stmt.excluded[k] for k in changed})


@cache
def _statements(dialect: str) -> _Statements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return _Statements(
        known=select(DicomInstance.sop_instance_uid).where(
            DicomInstance.sop_instance_uid.in_(bindparam("sops", expanding=True))
        ),
        series=select(DicomSeries.series_instance_uid, DicomSeries.id, DicomSeries.study_id).where(
            DicomSeries.series_instance_uid.in_(bindparam("uids", expanding=True))
        ),
        insert_instances=insert(DicomInstance)
        .on_conflict_do_nothing(index_elements=["sop_instance_uid"])
        .returning(DicomInstance.sop_instance_uid, DicomInstance.id),
        series_counts=update(DicomSeries)
        .where(DicomSeries.id == bindparam("b_id"))
        .values(instance_count=DicomSeries.instance_count + bindparam("b_n")),
        study_counts=update(DicomStudy)
        .where(DicomStudy.id == bindparam("b_id"))
        .values(instance_count=DicomStudy.instance_count + bindparam("b_n"), updated_at=bindparam("b_at")),
        store_headers=_upsert(
            insert, InstanceHeader, [InstanceHeader.instance_id], ["header", "encoded", "received_at"]
        ),
        record_deliveries=_upsert(
            insert,
            Delivery,
            ["sop_instance_uid", "content_hash", "destination"],
            ["status", "instance_id", "spool_path", "exception_id", "updated_at", "sent_hash"],
        ),
        status=update(DicomInstance)
        .where(DicomInstance.id.in_(bindparam("ids", expanding=True)))
        .values(status=bindparam("b_status")),
        final_status=update(DicomInstance)
        .where(DicomInstance.id.in_(bindparam("ids", expanding=True)))
        .values(status=bindparam("b_status"), processed_at=bindparam("b_at")),
        priors=select(
            Delivery.sop_instance_uid,
            Delivery.content_hash,
            Delivery.destination,
            Delivery.spool_path,
            Delivery.status,
            Delivery.sent_hash,
        ).where(Delivery.sop_instance_uid.in_(bindparam("sops", expanding=True))),
        attempts=select(RouteAttempt.spool_path, RouteAttempt.attempts).where(
            RouteAttempt.spool_path.in_(bindparam("paths", expanding=True))
        ),
    )


def _hot(session: Session) -> tuple[Any, _Statements]:
    """The session's connection (Core: no ORM bookkeeping for these bulk statements) and the
    statements for its dialect."""
    connection = session.connection()
    return connection, _statements(connection.dialect.name)


def _same(row: _Row) -> _Row:
    return row


def _series_ids(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, tuple[int, int]]:
    """(series id, study id) of every series in ``rows``, creating the ones not seen before."""
    connection, statements = _hot(session)
    uids = sorted({r["series_instance_uid"] for r in rows})
    found = {
        uid: (series_id, study_id)
        for uid, series_id, study_id in connection.execute(statements.series, {"uids": uids})
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
    connection, statements = _hot(session)
    sops = [r["sop_instance_uid"] for r in rows]
    known = set(connection.execute(statements.known, {"sops": sops}).scalars())
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
        # executemany: SQLAlchemy sends it as multi-row INSERTs, compiled once for every batch size.
        inserted = {sop: id_ for sop, id_ in connection.execute(statements.insert_instances, values)}
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
        if series_counts:
            connection.execute(
                statements.series_counts, [{"b_id": i, "b_n": n} for i, n in series_counts.items()]
            )
            connection.execute(
                statements.study_counts,
                [{"b_id": i, "b_n": n, "b_at": now} for i, n in study_counts.items()],
            )
    for index in sorted(later):
        ids[index] = upsert_instance(session, **rows[index]).id
    return [ids[i] for i in range(len(rows))]


def store_headers(session: Session, headers: Sequence[tuple[int, bytes, datetime]]) -> None:
    """Keep each (instance id, encoded header, received at), replacing an earlier receipt's: one
    statement."""
    if not headers:
        return
    connection, statements = _hot(session)
    rows = [{"instance_id": i, "header": None, "encoded": e, "received_at": at} for i, e, at in headers]
    connection.execute(statements.store_headers, rows)


def record_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update ledger rows (``deliveries.record``'s keyword arguments) in one statement."""
    if not rows:
        return
    now = utcnow()
    connection, statements = _hot(session)
    connection.execute(statements.record_deliveries, [{**r, "updated_at": now} for r in rows])


def set_statuses(session: Session, statuses: dict[int, InstanceStatus]) -> None:
    """Move each instance to its status: one UPDATE per distinct status."""
    by_status: dict[InstanceStatus, list[int]] = {}
    for instance_id, status in statuses.items():
        by_status.setdefault(status, []).append(instance_id)
    now = utcnow()
    connection, statements = _hot(session)
    for status, ids in by_status.items():
        if status in FINAL_STATUSES:
            connection.execute(statements.final_status, {"ids": ids, "b_status": status, "b_at": now})
        else:
            connection.execute(statements.status, {"ids": ids, "b_status": status})


def priors_of(session: Session, contents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], list[Prior]]:
    """The ledger rows of each (SOP Instance UID, content hash): one query for the batch."""
    wanted = set(contents)
    found: dict[tuple[str, str], list[Prior]] = {key: [] for key in wanted}
    connection, statements = _hot(session)
    rows = connection.execute(statements.priors, {"sops": sorted({sop for sop, _ in wanted})})
    for sop, content_hash, destination, spool_path, status, sent_hash in rows:
        if (sop, content_hash) in wanted:
            found[(sop, content_hash)].append(Prior(destination, spool_path, status, sent_hash))
    return found


def failed_attempts_of(session: Session, spool_paths: Sequence[str]) -> dict[str, int]:
    """Failed routing attempts of each arrival that has any: one query for the batch."""
    connection, statements = _hot(session)
    rows = connection.execute(statements.attempts, {"paths": list(spool_paths)})
    return {path: int(attempts) for path, attempts in rows}
