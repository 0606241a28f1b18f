"""The record of one destination's pass over a batch: exception rows for what failed and the
ledger rows for every instance, in one statement (issue 17). Safe to run again: the caller retries
it through a database blip (axiom/db/retry.py), since the sends it records already happened."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories import instance_batches as batch_repo
from axiom.pipeline.deliver import Failure, record_failure
from axiom.pipeline.deliver_each import sent_digest

if TYPE_CHECKING:
    from axiom.pipeline.route_batch import Item


def record_pass(
    session: Session,
    *,
    name: str,
    policy: str,
    skipped: list[Item],
    outcomes: list[tuple[Item, dict[str, Failure]]],
) -> list[int | None]:
    """The skips, exception rows and ledger rows of this destination's pass; the exception ids."""
    for item in skipped:
        assert item.outgoing is not None
        delivery_repo.count_skip(
            session,
            sop_instance_uid=item.outgoing.sop_instance_uid,
            content_hash=item.outgoing.content_hash,
            destination=name,
        )
    exception_ids: list[int | None] = []
    ledger = []
    for item, failed in outcomes:
        assert item.outgoing is not None
        failure = failed.get(name)
        exception_id = (
            record_failure(session, item.outgoing, name, item.instance_id, failure) if failure else None
        )
        exception_ids.append(exception_id)
        sent_hash = sent_digest(item.outgoing) if policy == "send_if_changed" and not failure else None
        ledger.append(
            {
                "sop_instance_uid": item.outgoing.sop_instance_uid,
                "content_hash": item.outgoing.content_hash,
                "destination": name,
                "status": "failed" if failure else "delivered",
                "instance_id": item.instance_id,
                "spool_path": item.message.spool_path,
                "exception_id": exception_id,
                "sent_hash": sent_hash,
            }
        )
    batch_repo.record_deliveries(session, ledger)
    return exception_ids
