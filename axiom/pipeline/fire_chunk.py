"""Send one chunk of a firing completion group, destination by destination.

Each destination's ledger rows are committed right after its own pass (through a database blip),
so a rerun after a crash or a lost connection skips what the ledger shows this very copy got and
repeats at most the send in flight (a resend-study group, which fires the same copies again on
purpose, repeats the chunk). A member whose identical content a destination already got from an earlier arrival
follows that destination's ``on_duplicate`` (a resend-study group sends everything again: that is
what its straggler policy asks for).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from sqlalchemy.orm import Session

from axiom import metrics
from axiom.db.models import DeliveryStatus
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories.deliveries import Prior
from axiom.db.retry import commit_through_blips
from axiom.domain.instances import OutgoingInstance
from axiom.pipeline.deliver import Failure, deliver_many, record_outcomes
from axiom.pipeline.deliver_each import sent_digest, skips
from axiom.pipeline.runtime import ConfigSnapshot, Runtime


@dataclass(frozen=True)
class Member:
    outgoing: OutgoingInstance
    instance_id: int | None
    # The held copy's path: one arrival's identity in the ledger (``Delivery.spool_path``).
    held_path: str


def _priors(runtime: Runtime, members: Sequence[Member]) -> list[dict[str, Prior]]:
    with runtime.sessions() as session:
        return [
            {
                p.destination: p
                for p in delivery_repo.prior_deliveries(
                    session, m.outgoing.sop_instance_uid, m.outgoing.content_hash
                )
            }
            if m.outgoing.content_hash
            else {}
            for m in members
        ]


def _done(prior: Prior | None, held_path: str) -> bool:
    """This very copy was delivered there before a crash cut the firing short: not again."""
    return prior is not None and prior.spool_path == held_path and prior.status == DeliveryStatus.DELIVERED


def _record(
    session: Session,
    *,
    name: str,
    policy: str,
    skipped: list[Member],
    sent: list[tuple[Member, dict[str, Failure]]],
) -> list[tuple[int, float]]:
    for member in skipped:
        delivery_repo.count_skip(
            session,
            sop_instance_uid=member.outgoing.sop_instance_uid,
            content_hash=member.outgoing.content_hash,
            destination=name,
        )
    retries: list[tuple[int, float]] = []
    for member, failures in sent:
        sent_hash = None
        if policy == "send_if_changed" and name not in failures:
            sent_hash = sent_digest(member.outgoing)
        retries += record_outcomes(
            session,
            member.outgoing,
            [name],
            failures,
            instance_id=member.instance_id,
            spool_path=member.held_path,
            sent_hash=sent_hash,
        )
    return retries


def send_chunk(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    members: Sequence[Member],
    order: list[str],
    *,
    apply_duplicate_policy: bool,
) -> tuple[list[dict[str, Failure]], list[tuple[int, float]]]:
    """Every member to every destination of ``order``; each member's failures, and the retries."""
    failures: list[dict[str, Failure]] = [{} for _ in members]
    retries: list[tuple[int, float]] = []
    priors = _priors(runtime, members) if apply_duplicate_policy else [{} for _ in members]
    for name in order:
        config = snapshot.destination_configs.get(name)
        policy = config.duplicate_policy if config is not None else "send"
        done_at = {i for i, m in enumerate(members) if _done(priors[i].get(name), m.held_path)}
        skipped_at = {
            i
            for i, m in enumerate(members)
            if m.outgoing.content_hash and skips(policy, priors[i].get(name), m.held_path, m.outgoing)
        }
        going = [i for i in range(len(members)) if i not in skipped_at and i not in done_at]
        outcomes = (
            deliver_many(runtime, snapshot, [members[i].outgoing for i in going], [name]) if going else []
        )
        for i, failed in zip(going, outcomes, strict=True):
            failures[i].update(failed)
        # The sends happened: their record must land, through a database restart too.
        record = partial(
            _record,
            name=name,
            policy=policy,
            skipped=[members[i] for i in sorted(skipped_at)],
            sent=[(members[i], outcomes[k]) for k, i in enumerate(going)],
        )
        retries += commit_through_blips(runtime.sessions, record)
        for _ in skipped_at:
            metrics.DUPLICATES_SKIPPED.labels(destination=name).inc()
    return failures, retries
