"""Deliver one routed instance destination by destination, each outcome committed right after its
own send, and re-receipts of content a destination already has handled by its ``on_duplicate``.

Committing per destination bounds what a crash, a database blip or a task retry can repeat to the
one send in flight: a rerun of the same arrival skips every destination the ledger shows done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import structlog

from axiom import metrics
from axiom.db.models import DeliveryStatus
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories.deliveries import Prior
from axiom.db.retry import commit_through_blips
from axiom.domain.instances import OutgoingInstance
from axiom.pipeline.deliver import Failure, deliver_all, record_outcomes
from axiom.pipeline.exception_copies import encode
from axiom.pipeline.runtime import ConfigSnapshot, Runtime

log = structlog.get_logger("axiom.deliver")


@dataclass
class Delivered:
    failures: dict[str, Failure] = field(default_factory=dict)
    # Destinations that already had this content from an earlier arrival (on_duplicate: skip).
    skipped: list[str] = field(default_factory=list)
    # (exception id, seconds until the first retry) of each transient failure.
    retries: list[tuple[int, float]] = field(default_factory=list)


def sent_digest(outgoing: OutgoingInstance) -> str:
    """sha256 of what goes out (before any transcoding for the destination)."""
    if outgoing.source_file is not None:
        return outgoing.content_hash
    return hashlib.sha256(encode(outgoing.dataset)).hexdigest()


def skips(policy: str, prior: Prior | None, spool_path: str, outgoing: OutgoingInstance) -> bool:
    """Whether this arrival is a duplicate the destination's policy does not send again."""
    another_arrival = prior is not None and prior.spool_path != spool_path
    if prior is None or not another_arrival or prior.status != DeliveryStatus.DELIVERED:
        return False
    if policy == "skip":
        return True
    if policy == "send_if_changed":
        return prior.sent_hash is not None and prior.sent_hash == sent_digest(outgoing)
    return False


def deliver_each(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    outgoing: OutgoingInstance,
    names: list[str],
    *,
    instance_id: int | None,
    spool_path: str,
    priors: Mapping[str, Prior],
) -> Delivered:
    """Send to each of ``names`` in order; no transaction is open during a send."""
    result = Delivered()
    for name in names:
        config = snapshot.destination_configs.get(name)
        policy = config.duplicate_policy if config is not None else "send"
        if outgoing.content_hash and skips(policy, priors.get(name), spool_path, outgoing):
            with runtime.sessions() as session:
                delivery_repo.count_skip(
                    session,
                    sop_instance_uid=outgoing.sop_instance_uid,
                    content_hash=outgoing.content_hash,
                    destination=name,
                )
                session.commit()
            metrics.DUPLICATES_SKIPPED.labels(destination=name).inc()
            log.info("duplicate not sent again", destination=name, policy=policy)
            result.skipped.append(name)
            continue
        failures = deliver_all(runtime, snapshot, outgoing, [name])
        sent_hash = sent_digest(outgoing) if policy == "send_if_changed" and not failures else None
        # The send happened: its ledger row must land, through a database restart too.
        record = partial(
            record_outcomes,
            outgoing=outgoing,
            names=[name],
            failures=failures,
            instance_id=instance_id,
            spool_path=spool_path,
            sent_hash=sent_hash,
        )
        result.retries += commit_through_blips(runtime.sessions, record)
        result.failures.update(failures)
    return result
