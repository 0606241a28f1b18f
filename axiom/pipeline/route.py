"""Route one spooled instance: record it, evaluate the rules, morph, deliver to each destination.

Every destination ends in one of two states before the spooled file is removed: it has the instance,
or it holds an exception row with a copy of its own. The instance row is written before anything is
sent, and each destination's ledger row right after its own send, so a rerun of the same message (a
redelivered task after a killed worker) sends only what was not done. A routing that keeps failing
is bounded: past ``route_max_attempts`` the instance is held as a dead exception (route_attempts).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydicom import Dataset

from axiom import metrics
from axiom.admin.crosswalks import UnknownCrosswalk
from axiom.ai.analysis import run_analyses, store_analyses
from axiom.ai.inference import infer_instance
from axiom.ai.language_models import audit_hook
from axiom.ai.llm import LLMError
from axiom.ai.report import DOCUMENT_BUILDERS
from axiom.db.repositories import completions as completion_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.repositories import route_attempts as attempt_repo
from axiom.db.session import make_durable
from axiom.dicom.fast_read import read_part10
from axiom.dicom.spool import ForeignSpoolPath, Spool, dataset_digest
from axiom.dicom.spool_claim import InFlight, claim
from axiom.domain.instances import InstanceStatus, OutgoingInstance
from axiom.domain.messages import InstanceMessage
from axiom.infra import events as ev
from axiom.logging import phi_hash
from axiom.pipeline import completion
from axiom.pipeline.deliver import Failure, by_priority, deliver_all, record_outcomes
from axiom.pipeline.deliver_each import deliver_each
from axiom.pipeline.pseudonyms import record_pseudonyms
from axiom.pipeline.route_attempts import count_failure
from axiom.pipeline.route_holds import RouteOutcome, drop, give_up, hold, quarantine_unreadable
from axiom.pipeline.route_record import InstanceRecord, RouteHistory
from axiom.pipeline.runtime import ConfigSnapshot, Runtime
from rules.engine import AnalysisRequest, Plan, evaluate
from rules.model import InferSpec, IngestContext
from rules.morph import MorphError, apply_actions

log = structlog.get_logger("axiom.route")


def context_for(
    message: InstanceMessage,
    lookup: Callable[[str, str], str | None],
    history: RouteHistory,
    now: datetime,
    anon_secret: str = "",
) -> IngestContext:
    return IngestContext(
        lookup=lookup,
        anon_secret=anon_secret,
        series_instance_count=history.series_count,
        resent=history.resent,
        calling_ae=message.calling_ae,
        called_ae=message.called_ae,
        source=message.source,
        received_at=datetime.fromisoformat(message.received_at),
        inference=history.inference,
        # The engine has no clock: scheduled rulesets are checked against this.
        now=now,
    )


def _error_class(exc: BaseException) -> str:
    return type(exc).__name__


def route_instance(
    runtime: Runtime, message: InstanceMessage, *, now: datetime | None = None
) -> RouteOutcome | None:
    """Process one message; None when its spooled file is already gone (a duplicate delivery).

    ``now`` is the clock reading scheduled rulesets are checked against (default: the current time).
    The message's correlation id is bound to the log context meanwhile, and the outcome is counted
    and announced as live events (routed, then delivered or failed per destination).
    """
    try:
        return _route_instance(runtime, message, now)
    except Exception as exc:
        # Visible, and bounded: past route_max_attempts the instance is held as a dead exception.
        attempts = count_failure(runtime, message, exc)
        if attempts < runtime.settings.route_max_attempts:
            raise
        outcome = give_up(runtime, message, attempts, _error_class(exc))
    announce(runtime, message, outcome)
    return outcome


def _route_instance(runtime: Runtime, message: InstanceMessage, now: datetime | None) -> RouteOutcome | None:
    with structlog.contextvars.bound_contextvars(
        correlation_id=message.correlation_id or None, sop_instance_uid=message.sop_instance_uid
    ):
        outcome = _route(runtime, message, now)
    if outcome is not None:
        announce(runtime, message, outcome)
    return outcome


def announce(runtime: Runtime, message: InstanceMessage, outcome: RouteOutcome) -> None:
    status = str(outcome.status)
    metrics.PROCESSED.labels(status=status).inc()
    ids = {"sop_instance_uid": message.sop_instance_uid, "correlation_id": message.correlation_id}
    runtime.events.emit(ev.ROUTED, **ids, status=status, destinations=outcome.routed_to)
    for name in outcome.delivered:
        runtime.events.emit(ev.DELIVERED, **ids, destination=name, status="delivered")
    for name, error_class in outcome.failed.items():
        runtime.events.emit(ev.FAILED, **ids, destination=name, status="failed", error=error_class)


def _route(runtime: Runtime, message: InstanceMessage, now: datetime | None) -> RouteOutcome | None:
    settings = runtime.settings
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    try:
        path = spool.own(message.spool_path)
    except ForeignSpoolPath:
        log.error(
            "task refused: it names a file outside the spool", spool_path_hash=phi_hash(message.spool_path)
        )
        return None
    with contextlib.ExitStack() as stack:
        try:
            # The claim: no other task routes this arrival while this one does (issue 15, item 3).
            part10 = stack.enter_context(claim(path))
        except FileNotFoundError:
            log.info("spooled file already processed", sop_instance_uid=message.sop_instance_uid)
            return None
        except InFlight:
            # Another task holds it (a republished copy of this task); it answers for the file.
            log.info("spooled file in flight in another task", sop_instance_uid=message.sop_instance_uid)
            return None
        return _route_claimed(runtime, message, now, spool, path, part10)


def _route_claimed(
    runtime: Runtime, message: InstanceMessage, now: datetime | None, spool: Spool, path: Path, part10: bytes
) -> RouteOutcome | None:
    settings = runtime.settings
    try:
        dataset = read_part10(part10)
    except Exception as exc:
        return quarantine_unreadable(runtime, spool, path, message, exc)

    now = now or datetime.now(UTC)
    snapshot = runtime.config()
    keep_header = settings.header_retention_days > 0
    content_hash = dataset_digest(part10)
    # Decide, with the AI passes as an explicit loop: models first, then hosted analyses; each pass
    # stores its results and the rules are evaluated again with them.
    while True:
        history = RouteHistory.read(
            runtime, message, dataset, content_hash, snapshot.needs_series_count, snapshot.needs_inference
        )
        if history.failed_attempts >= settings.route_max_attempts:
            # Given up on before (its dead row may not have been written): never delivered again by itself.
            return give_up(runtime, message, history.failed_attempts, "TooManyAttempts")
        ctx = context_for(message, runtime.crosswalks, history, now, runtime.anon_secret(snapshot))
        if snapshot.standardize_tags:
            ctx = ctx.model_copy(
                update={"standardized": _standardize(runtime, message, dataset, snapshot.standardize_tags)}
            )
        try:
            with metrics.RULE_SECONDS.time():
                plan = evaluate(snapshot.rulesets, dataset, ctx)
        except UnknownCrosswalk as exc:
            record = InstanceRecord(
                message, dataset, [], [], keep_header, runtime.patient_id_hash(dataset), part10=part10
            )
            return hold(
                runtime, spool, record, InstanceStatus.QUARANTINED, "route", "UnknownCrosswalk", str(exc)
            )
        if plan.disposition == "route" and plan.infer:
            if runtime.dispatch_inference is not None:
                # The gpu queue runs the models and publishes this instance's routing again.
                runtime.dispatch_inference(message, list(plan.infer))
                log.info("instance sent for inference", sop_instance_uid=message.sop_instance_uid)
                return RouteOutcome("inferring")
            _infer(runtime, message, dataset, content_hash, list(plan.infer))
            continue
        if plan.disposition == "route" and plan.analyze:
            _analyze(runtime, message, dataset, content_hash, plan.analyze)
            continue
        break
    deferred_names = [name for item in plan.deferred for name in item.destinations]
    destinations = list(dict.fromkeys([*plan.destinations, *deferred_names]))
    record = InstanceRecord(
        message,
        dataset,
        list(plan.matched),
        destinations,
        keep_header,
        runtime.patient_id_hash(dataset),
        part10=part10,
    )
    if plan.disposition == "quarantine":
        return hold(
            runtime, spool, record, InstanceStatus.QUARANTINED, "route", "RuleQuarantine", plan.reason
        )
    if plan.disposition == "drop":
        return drop(runtime, spool, record, plan.reason)
    if not plan.destinations and not plan.deferred:
        reason = "no rule routed this instance to a destination; kept in quarantine"
        return hold(runtime, spool, record, InstanceStatus.NO_MATCH, "route", "NoMatchingRule", reason)
    try:
        outgoing_ds = apply_actions(dataset, plan.actions)
    except MorphError as exc:
        return hold(runtime, spool, record, InstanceStatus.QUARANTINED, "morph", _error_class(exc), str(exc))

    outgoing = OutgoingInstance(
        dataset=outgoing_ds,
        source_file=path if outgoing_ds is dataset else None,
        sop_instance_uid=message.sop_instance_uid,
        study_instance_uid=record.study_uid,
        content_hash=content_hash,
    )
    immediate: dict[str, str] = dict(plan.priorities)
    waiting = False
    if plan.deferred:
        # Held copies for series/study-complete rules, committed before anything is sent.
        placement = completion.place(runtime, dataset, outgoing, plan.deferred, now)
        for name, priority in placement.send_now.items():
            immediate.setdefault(name, priority)
        waiting = placement.waiting
    # Recorded before anything is sent: what fails to record fails before a delivery, never after.
    with runtime.sessions() as session:
        instance_id = record.save(session, InstanceStatus.PROCESSING)
        if plan.deferred:
            completion_repo.link_instance(session, message.sop_instance_uid, instance_id)
        # What the anonymize action sent in place of the patient's identity, for re-identification.
        record_pseudonyms(session, plan.pseudonyms)
        session.commit()
    # No transaction is open while sending; each destination's ledger row is committed after its
    # own send. Higher-priority destinations are served first (a stable sort keeps the rules' order
    # within one). A rerun of this same arrival (a task redelivered after a crash) skips what it did.
    chosen = by_priority(immediate)
    names = [n for n in chosen if n not in history.done_by_this_arrival]
    sent = deliver_each(
        runtime,
        snapshot,
        outgoing,
        names,
        instance_id=instance_id,
        spool_path=message.spool_path,
        priors=history.priors,
    )
    failures = sent.failures
    reports = _reports(runtime, snapshot, plan, dataset, outgoing, names, now)
    status = InstanceStatus.WAITING if waiting else InstanceStatus.DELIVERED
    # A rerun counts what this arrival's earlier run failed to send too (its retries are pending).
    failed = {*failures, *history.failed_by_this_arrival} & set(chosen)
    if failed:
        status = InstanceStatus.FAILED if failed == set(chosen) else InstanceStatus.PARTIAL
    outcome = RouteOutcome(
        status,
        [n for n in names if n not in failures and n not in sent.skipped],
        retries=sent.retries,
        failed={name: failure.error_class for name, failure in failures.items()},
        routed_to=destinations,
        skipped=sent.skipped,
    )
    with runtime.sessions() as session:
        make_durable(session)  # the last commit before the spooled file goes
        instance_repo.set_instance_status(session, instance_id, status)
        for report, report_names, report_failures in reports:
            outcome.retries += record_outcomes(
                session, report, report_names, report_failures, instance_id=instance_id, spool_path=None
            )
        if history.failed_attempts:
            attempt_repo.clear(session, message.spool_path)
        session.commit()
    # Only now is every destination served or covered by its own copy.
    spool.remove(path)
    return outcome


def _reports(
    runtime: Runtime,
    snapshot: ConfigSnapshot,
    plan: Plan,
    received: Dataset,
    outgoing: OutgoingInstance,
    names: list[str],
    now: datetime,
) -> list[tuple[OutgoingInstance, list[str], dict[str, Failure]]]:
    """Send each finding's document (Basic Text SR or Key Object Selection) where its rules route.

    The document is built from the outgoing copy (edited and anonymized as the image is sent). It
    goes now to those of ``names`` (this pass's destinations, highest priority first) its per-instance
    rules route to, and is held in the groups of its series/study-complete rules, to be sent with
    their images (without counting towards the group's expected size). A failed send is an exception
    row with its own copy, retried like any delivery.
    """
    sent = []
    for report in plan.reports:
        document = DOCUMENT_BUILDERS[report.kind](outgoing.dataset, report.model, report.result, now)
        key = f"{outgoing.content_hash}:{report.kind}:{report.model}:{report.result.version}"
        item = OutgoingInstance(
            dataset=document,
            source_file=None,
            sop_instance_uid=str(document.SOPInstanceUID),
            study_instance_uid=str(document.get("StudyInstanceUID", "")),
            content_hash=hashlib.sha256(key.encode()).hexdigest(),
        )
        targets = [name for name in names if name in report.destinations]
        held = [d for d in plan.deferred if d.rule in report.held_by]
        if held:
            placement = completion.place(runtime, received, item, held, now, counted=False)
            targets += [name for name in by_priority(placement.send_now) if name not in targets]
        if targets:
            sent.append((item, targets, deliver_all(runtime, snapshot, item, targets)))
        log.info(
            "finding document made",
            kind=report.kind,
            model=report.model,
            document_uid=item.sop_instance_uid,
            sent_to=len(targets),
            held_in=len(held),
        )
    return sent


def _standardize(
    runtime: Runtime, message: InstanceMessage, dataset: Dataset, tags: frozenset[str]
) -> dict[str, str]:
    """Site vocabulary terms for the descriptions `standardize` actions ask for (cached per text).

    A language model that cannot be reached leaves the descriptions as received: routing goes on.
    """
    hook = audit_hook(runtime.sessions, "ai", message.sop_instance_uid)
    try:
        return runtime.standardizer().standardize_dataset(dataset, sorted(tags), on_call=hook)
    except (LLMError, ValueError, OSError) as exc:
        log.warning("tag standardization skipped", sop_instance_uid=message.sop_instance_uid, error=str(exc))
        return {}


def _infer(
    runtime: Runtime,
    message: InstanceMessage,
    dataset: Dataset,
    content_hash: str,
    specs: list[InferSpec],
) -> None:
    """Run the models asked for here; every one ends with a stored result (ok, skipped or failed)."""
    with runtime.sessions() as session:
        infer_instance(
            runtime.inference(),
            session,
            dataset,
            sop_instance_uid=message.sop_instance_uid,
            sop_class_uid=message.sop_class_uid,
            content_hash=content_hash,
            specs=specs,
        )
        session.commit()


def _analyze(
    runtime: Runtime,
    message: InstanceMessage,
    dataset: Dataset,
    content_hash: str,
    requests: tuple[AnalysisRequest, ...],
) -> None:
    """Hosted analyses (anonymized copies only); their outcomes are stored like model results."""
    hook = audit_hook(runtime.sessions, "ai", message.sop_instance_uid)
    analyses = run_analyses(runtime.make_analyzer, hook, dataset, requests)
    with runtime.sessions() as session:
        store_analyses(
            session, analyses, sop_instance_uid=message.sop_instance_uid, content_hash=content_hash
        )
        session.commit()
