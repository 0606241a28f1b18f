"""Instance headers kept for replay: one upsert per routed instance (on the hot path), reads for
replay, and the retention clean-up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from axiom.db.models import DicomInstance, DicomSeries, InstanceHeader


def store_header(session: Session, instance_id: int, encoded: bytes, received_at: datetime) -> None:
    """Keep the encoded header for the instance, replacing what an earlier receipt stored: one
    statement."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(InstanceHeader).values(
        instance_id=instance_id, header=None, encoded=encoded, received_at=received_at
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[InstanceHeader.instance_id],
            set_={
                "header": stmt.excluded.header,
                "encoded": stmt.excluded.encoded,
                "received_at": stmt.excluded.received_at,
            },
        )
    )


def delete_received_before(session: Session, cutoff: datetime) -> int:
    result = session.execute(delete(InstanceHeader).where(InstanceHeader.received_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True)
class StoredHeader:
    """A kept header with what the instance row says happened to it."""

    instance_id: int
    header: dict[str, Any] | None
    received_at: datetime
    sop_instance_uid: str
    series_instance_uid: str
    calling_ae: str
    called_ae: str
    source: str
    matched_rules: list[str]
    destinations: list[str]
    encoded: bytes | None = None


def _window(since: datetime, until: datetime) -> Any:
    return (InstanceHeader.received_at >= since) & (InstanceHeader.received_at <= until)


def count_headers(session: Session, since: datetime, until: datetime) -> int:
    return session.scalar(select(func.count()).select_from(InstanceHeader).where(_window(since, until))) or 0


def iter_headers(
    session: Session, since: datetime, until: datetime, *, batch_size: int = 500
) -> Iterator[StoredHeader]:
    """Headers received in [since, until], oldest first, read in batches (keyset pagination)."""
    last: tuple[datetime, int] | None = None
    while True:
        stmt = (
            select(InstanceHeader, DicomInstance, DicomSeries.series_instance_uid)
            .join(DicomInstance, DicomInstance.id == InstanceHeader.instance_id)
            .join(DicomSeries, DicomSeries.id == DicomInstance.series_id)
            .where(_window(since, until))
            .order_by(InstanceHeader.received_at, InstanceHeader.instance_id)
            .limit(batch_size)
        )
        if last is not None:
            at, instance_id = last
            stmt = stmt.where(
                (InstanceHeader.received_at > at)
                | ((InstanceHeader.received_at == at) & (InstanceHeader.instance_id > instance_id))
            )
        rows = session.execute(stmt).all()
        for kept, instance, series_uid in rows:
            yield StoredHeader(
                instance_id=instance.id,
                header=kept.header,
                encoded=kept.encoded,
                received_at=kept.received_at,
                sop_instance_uid=instance.sop_instance_uid,
                series_instance_uid=series_uid,
                calling_ae=instance.calling_ae or "",
                called_ae=instance.called_ae or "",
                source=instance.source or "",
                matched_rules=list(instance.matched_rules or []),
                destinations=list(instance.destinations or []),
            )
        if len(rows) < batch_size:
            return
        last = (rows[-1][0].received_at, rows[-1][0].instance_id)


def series_count_at(session: Session, series_instance_uid: str, received_at: datetime) -> int:
    """Instances of the series whose kept header was received up to ``received_at`` (this one included)."""
    stmt = (
        select(func.count())
        .select_from(InstanceHeader)
        .join(DicomInstance, DicomInstance.id == InstanceHeader.instance_id)
        .join(DicomSeries, DicomSeries.id == DicomInstance.series_id)
        .where(DicomSeries.series_instance_uid == series_instance_uid)
        .where(InstanceHeader.received_at <= received_at)
    )
    return session.scalar(stmt) or 0


__all__ = [
    "StoredHeader",
    "count_headers",
    "delete_received_before",
    "iter_headers",
    "series_count_at",
    "store_header",
]
