"""The delivery ledger: what each destination got of each distinct content of an instance."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from axiom.db.base import utcnow
from axiom.db.models import Delivery, DeliveryStatus


@dataclass(frozen=True)
class Prior:
    destination: str
    spool_path: str | None
    status: DeliveryStatus
    sent_hash: str | None = None


def prior_deliveries(session: Session, sop_instance_uid: str, content_hash: str) -> list[Prior]:
    rows = session.execute(
        select(Delivery.destination, Delivery.spool_path, Delivery.status, Delivery.sent_hash).where(
            Delivery.sop_instance_uid == sop_instance_uid, Delivery.content_hash == content_hash
        )
    )
    return [Prior(*row) for row in rows]


def count_skip(session: Session, *, sop_instance_uid: str, content_hash: str, destination: str) -> None:
    """One more arrival of content the destination has, not sent again (on_duplicate: skip)."""
    session.execute(
        update(Delivery)
        .where(
            Delivery.sop_instance_uid == sop_instance_uid,
            Delivery.content_hash == content_hash,
            Delivery.destination == destination,
        )
        .values(skipped_count=Delivery.skipped_count + 1, updated_at=utcnow())
    )


def instance_outcome(session: Session, instance_id: int, sop_instance_uid: str) -> tuple[int, int]:
    """(delivered, failed) ledger rows of the instance itself (not of documents made from it)."""
    rows = session.execute(
        select(Delivery.status).where(
            Delivery.instance_id == instance_id, Delivery.sop_instance_uid == sop_instance_uid
        )
    ).scalars()
    statuses = list(rows)
    delivered = sum(s == DeliveryStatus.DELIVERED for s in statuses)
    return delivered, len(statuses) - delivered


def record(
    session: Session,
    *,
    sop_instance_uid: str,
    content_hash: str,
    destination: str,
    status: DeliveryStatus,
    instance_id: int | None,
    spool_path: str | None,
    exception_id: int | None = None,
    sent_hash: str | None = None,
) -> None:
    """Insert or update the ledger row of one destination (one statement, safe against races)."""
    values = {
        "sop_instance_uid": sop_instance_uid,
        "content_hash": content_hash,
        "destination": destination,
        "status": status,
        "instance_id": instance_id,
        "spool_path": spool_path,
        "exception_id": exception_id,
        "updated_at": utcnow(),
        "sent_hash": sent_hash,
    }
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Delivery).values(**values)
    changed = {
        k: stmt.excluded[k]
        for k in ("status", "instance_id", "spool_path", "exception_id", "updated_at", "sent_hash")
    }
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=["sop_instance_uid", "content_hash", "destination"], set_=changed
        )
    )


def delivered_after_retry(session: Session, exception_id: int) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.exception_id == exception_id)
        .values(status=DeliveryStatus.DELIVERED, updated_at=utcnow())
    )
