"""Route a batch of spooled instances, stage by stage (issue 17)::

    claim -> decide -> record -> deliver -> settle

Each stage runs over the whole batch: every file is claimed and parsed, the rules decide for each
(pure), the instance rows are written in one transaction with bulk statements, each destination
gets its instances in one pass (one association, one batched request or one run of file writes),
its ledger rows committed right after, and the statuses land in one last transaction before the
spooled files go. A crash anywhere replays the batch through the ledger: what a destination has
from this arrival is not sent again.

What leaves the common path (model or hosted-analysis passes, series/study-complete groups,
finding documents, a rule that reads the series count, an arrival that failed before, an error
this batch did not expect) is routed on its own by ``route.route_instance``, which handles all of
them, after this batch let go of its claim.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import structlog
from pydicom import Dataset
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.db.repositories import instance_batches as batch_repo
from axiom.db.retry import commit_through_blips
from axiom.db.session import make_durable
from axiom.dicom.fast_read import read_part10
from axiom.dicom.spool import ForeignSpoolPath, Spool, dataset_digest
from axiom.dicom.spool_claim import InFlight, claim
from axiom.domain.instances import InstanceStatus, OutgoingInstance
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.batch_ledger import record_pass
from axiom.pipeline.deliver import PRIORITY_RANK, Failure, by_priority, deliver_many
from axiom.pipeline.deliver_each import skips
from axiom.pipeline.pseudonyms import record_pseudonyms
from axiom.pipeline.route import announce, context_for, route_instance
from axiom.pipeline.route_holds import RouteOutcome, drop, hold, quarantine_unreadable
from axiom.pipeline.route_record import InstanceRecord, RouteHistory
from axiom.pipeline.runtime import ConfigSnapshot, Runtime
from rules.anonymize.plan import Pseudonym
from rules.engine import Plan, evaluate
from rules.morph import MorphError, apply_actions

log = structlog.get_logger("axiom.route")


@dataclass
class Item:
    """One instance of the batch as it moves through the stages."""

    index: int
    message: InstanceMessage
    path: Path
    part10: bytes
    dataset: Dataset
    content_hash: str
    history: RouteHistory | None = None
    plan: Plan | None = None
    record: InstanceRecord | None = None
    outgoing: OutgoingInstance | None = None
    chosen: list[str] = field(default_factory=list)  # every destination, highest priority first
    names: list[str] = field(default_factory=list)  # those this run sends to
    instance_id: int | None = None
    failures: dict[str, Failure] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    retries: list[tuple[int, float]] = field(default_factory=list)
    outcome: RouteOutcome | None = None


class Batch:
    """The stages' shared state: the items still on the common path and the finished outcomes."""

    def __init__(self, runtime: Runtime, messages: Sequence[InstanceMessage], now: datetime) -> None:
        self.runtime = runtime
        self.messages = messages
        self.now = now
        self.snapshot: ConfigSnapshot = runtime.config()
        settings = runtime.settings
        self.spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
        self.items: list[Item] = []
        self.outcomes: dict[int, RouteOutcome | None] = {}
        self.alone: list[int] = []  # routed one by one after the batch

    def finish(self, item: Item, outcome: RouteOutcome | None) -> None:
        self.outcomes[item.index] = outcome
        self.items.remove(item)

    def leave(self, item: Item) -> None:
        self.alone.append(item.index)
        self.items.remove(item)


def route_batch(
    runtime: Runtime,
    messages: Sequence[InstanceMessage],
    *,
    now: datetime | None = None,
    on_error: Callable[[InstanceMessage], None] | None = None,
) -> list[RouteOutcome | None]:
    """Route every message; one outcome per message, in order (None: already done or in flight).

    An instance routed on its own whose route raises is handed to ``on_error`` (the worker retries it
    as a task of its own) and the others go on; without ``on_error`` the first such error is raised.
    """
    batch = Batch(runtime, messages, now or datetime.now(UTC))
    snapshot = batch.snapshot
    if snapshot.needs_series_count or snapshot.needs_inference or snapshot.standardize_tags:
        # Rules that read per-instance state as it changes: one at a time keeps them exact.
        batch.alone = list(range(len(messages)))
        return _route_alone(batch, on_error)
    with contextlib.ExitStack() as claims:
        try:
            for stage in STAGES:
                stage(batch, claims)
        except Exception as exc:
            log.warning("batch routing failed; routing its instances one by one", error=type(exc).__name__)
            batch.alone += [item.index for item in batch.items]
            batch.items = []
    for index, outcome in batch.outcomes.items():
        if outcome is not None:
            announce(runtime, messages[index], outcome)
    return _route_alone(batch, on_error)


def _route_alone(
    batch: Batch, on_error: Callable[[InstanceMessage], None] | None
) -> list[RouteOutcome | None]:
    """The instances off the common path, one by one (route_instance announces its own outcome)."""
    for index in sorted(batch.alone):
        message = batch.messages[index]
        try:
            batch.outcomes[index] = route_instance(batch.runtime, message, now=batch.now)
        except Exception:
            if on_error is None:
                raise
            on_error(message)
    return [batch.outcomes.get(i) for i in range(len(batch.messages))]


def claim_stage(batch: Batch, claims: contextlib.ExitStack) -> None:
    """Claim and parse each spooled file; a file gone or held by another task is not this batch's."""
    for index, message in enumerate(batch.messages):
        try:
            path = batch.spool.own(message.spool_path)
            part10 = claims.enter_context(claim(path))
        except (ForeignSpoolPath, FileNotFoundError, InFlight):
            # A forged path, a duplicate task, or one another worker routes: route_instance says which.
            batch.alone.append(index)
            continue
        try:
            dataset = read_part10(part10)
        except Exception as exc:
            batch.outcomes[index] = quarantine_unreadable(batch.runtime, batch.spool, path, message, exc)
            continue
        batch.items.append(Item(index, message, path, part10, dataset, dataset_digest(part10)))


def decide_stage(batch: Batch, claims: contextlib.ExitStack) -> None:
    """The ledger and attempts of the whole batch in one read, then the rules for each (pure)."""
    runtime, snapshot = batch.runtime, batch.snapshot
    with runtime.sessions() as session:
        priors = batch_repo.priors_of(
            session, [(i.message.sop_instance_uid, i.content_hash) for i in batch.items]
        )
        attempts = batch_repo.failed_attempts_of(session, [i.message.spool_path for i in batch.items])
    secret = runtime.anon_secret(snapshot)
    keep_header = runtime.settings.header_retention_days > 0
    for item in list(batch.items):
        message, dataset = item.message, item.dataset
        failed = attempts.get(message.spool_path, 0)
        if failed:
            batch.leave(item)  # counted and bounded by route_instance
            continue
        item.history = RouteHistory.of(message, priors[(message.sop_instance_uid, item.content_hash)], 0)
        ctx = context_for(message, runtime.crosswalks, item.history, batch.now, secret)
        patient = runtime.patient_id_hash(dataset)
        try:
            with metrics.RULE_SECONDS.time():
                plan = evaluate(snapshot.rulesets, dataset, ctx)
        except UnknownCrosswalk as exc:
            record = InstanceRecord(message, dataset, [], [], keep_header, patient, part10=item.part10)
            outcome = hold(
                runtime,
                batch.spool,
                record,
                InstanceStatus.QUARANTINED,
                "route",
                "UnknownCrosswalk",
                str(exc),
            )
            batch.finish(item, outcome)
            continue
        if plan.disposition == "route" and (plan.infer or plan.analyze or plan.deferred or plan.reports):
            batch.leave(item)
            continue
        item.plan = plan
        item.record = record = InstanceRecord(
            message,
            dataset,
            list(plan.matched),
            list(plan.destinations),
            keep_header,
            patient,
            part10=item.part10,
        )
        if plan.disposition == "quarantine":
            outcome = hold(
                runtime,
                batch.spool,
                record,
                InstanceStatus.QUARANTINED,
                "route",
                "RuleQuarantine",
                plan.reason,
            )
            batch.finish(item, outcome)
            continue
        if plan.disposition == "drop":
            batch.finish(item, drop(runtime, batch.spool, record, plan.reason))
            continue
        if not plan.destinations:
            reason = "no rule routed this instance to a destination; kept in quarantine"
            outcome = hold(
                runtime, batch.spool, record, InstanceStatus.NO_MATCH, "route", "NoMatchingRule", reason
            )
            batch.finish(item, outcome)
            continue
        try:
            outgoing_ds = apply_actions(dataset, plan.actions)
        except MorphError as exc:
            outcome = hold(
                runtime,
                batch.spool,
                record,
                InstanceStatus.QUARANTINED,
                "morph",
                type(exc).__name__,
                str(exc),
            )
            batch.finish(item, outcome)
            continue
        item.outgoing = OutgoingInstance(
            dataset=outgoing_ds,
            source_file=item.path if outgoing_ds is dataset else None,
            sop_instance_uid=message.sop_instance_uid,
            study_instance_uid=record.study_uid,
            content_hash=item.content_hash,
        )
        item.chosen = by_priority(dict(plan.priorities))
        item.names = [n for n in item.chosen if n not in item.history.done_by_this_arrival]


def record_stage(batch: Batch, claims: contextlib.ExitStack) -> None:
    """Every instance row (and kept header, and pseudonym) in one transaction, before any send."""
    if not batch.items:
        return
    with batch.runtime.sessions() as session:
        rows = [item.record.values(InstanceStatus.PROCESSING) for item in batch.items if item.record]
        ids = batch_repo.record_instances(session, rows)
        headers = []
        # A batch is mostly one patient's series: each mapping is looked up and touched once.
        pseudonyms: dict[Pseudonym, None] = {}
        for item, instance_id in zip(batch.items, ids, strict=True):
            item.instance_id = instance_id
            assert item.record is not None and item.plan is not None
            if item.record.keep_header:
                received_at = datetime.fromisoformat(item.message.received_at)
                if received_at.tzinfo is None:
                    received_at = received_at.replace(tzinfo=UTC)
                headers.append((instance_id, item.record.header(), received_at))
            pseudonyms.update(dict.fromkeys(item.plan.pseudonyms))
        record_pseudonyms(session, pseudonyms)
        batch_repo.store_headers(session, headers)
        session.commit()


def _destination_order(items: Sequence[Item]) -> list[str]:
    """Each destination once, those some instance ranks higher first; the rules' order within a rank."""
    rank: dict[str, int] = {}
    for item in items:
        assert item.plan is not None
        priorities = dict(item.plan.priorities)
        for name in item.names:
            r = PRIORITY_RANK.get(priorities.get(name, "default"), 1)
            rank[name] = min(rank.get(name, r), r)
    return sorted(rank, key=lambda name: rank[name])


def deliver_stage(batch: Batch, claims: contextlib.ExitStack) -> None:
    """One pass per destination over the instances routed there; its ledger rows committed after."""
    runtime, snapshot = batch.runtime, batch.snapshot
    for name in _destination_order(batch.items):
        config = snapshot.destination_configs.get(name)
        policy = config.duplicate_policy if config is not None else "send"
        going = [item for item in batch.items if name in item.names]
        skipped = [
            item
            for item in going
            if item.history is not None
            and item.outgoing is not None
            and skips(policy, item.history.priors.get(name), item.message.spool_path, item.outgoing)
        ]
        sending = [item for item in going if item not in skipped]
        outgoings = [item.outgoing for item in sending if item.outgoing is not None]
        failures = deliver_many(runtime, snapshot, outgoings, [name]) if outgoings else []
        outcomes = list(zip(sending, failures, strict=True))

        # The sends happened: their record must land, through a database restart too.
        record = partial(record_pass, name=name, policy=policy, skipped=skipped, outcomes=outcomes)
        exception_ids = commit_through_blips(runtime.sessions, record)
        for item in skipped:
            metrics.DUPLICATES_SKIPPED.labels(destination=name).inc()
            item.skipped.append(name)
        for (item, failed), exception_id in zip(outcomes, exception_ids, strict=True):
            failure = failed.get(name)
            if failure is not None and exception_id is not None:
                item.failures[name] = failure
                if failure.retry_in is not None:
                    item.retries.append((exception_id, failure.retry_in))


def settle_stage(batch: Batch, claims: contextlib.ExitStack) -> None:
    """Every status in one durable transaction; only then do the spooled files go."""
    if not batch.items:
        return
    statuses: dict[int, InstanceStatus] = {}
    for item in batch.items:
        assert item.history is not None and item.instance_id is not None
        failed = {*item.failures, *item.history.failed_by_this_arrival} & set(item.chosen)
        status = InstanceStatus.DELIVERED
        if failed:
            status = InstanceStatus.FAILED if failed == set(item.chosen) else InstanceStatus.PARTIAL
        statuses[item.instance_id] = status
        item.outcome = RouteOutcome(
            status,
            [n for n in item.names if n not in item.failures and n not in item.skipped],
            retries=item.retries,
            failed={name: failure.error_class for name, failure in item.failures.items()},
            routed_to=list(item.chosen),
            skipped=item.skipped,
        )

    def settle(session: Session) -> None:
        make_durable(session)  # the last commit before the spooled files go
        batch_repo.set_statuses(session, statuses)

    commit_through_blips(batch.runtime.sessions, settle)
    for item in list(batch.items):
        batch.spool.remove(item.path)
        batch.finish(item, item.outcome)


Stage = Callable[[Batch, contextlib.ExitStack], None]
# The route, in order: readable in one place.
STAGES: tuple[Stage, ...] = (claim_stage, decide_stage, record_stage, deliver_stage, settle_stage)
