"""Route one spooled instance: record it, evaluate the rules, morph, deliver to each destination.

Every destination ends in one of two states before the spooled file is removed: it has the instance,
or it holds an exception row with a copy of its own. A rerun of the same message (a redelivered task
after a killed worker) repeats the deliveries, which are idempotent per SOP Instance UID.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path
from typing import Literal

import structlog
from pydicom import Dataset, dcmread
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.ai.llm import LLMError
from axiom.ai.report import DOCUMENT_BUILDERS
from axiom.db.repositories import completions as completion_repo
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories import exceptions as exception_repo
from axiom.db.repositories import instances as instance_repo
from axiom.dicom.spool import ForeignSpoolPath, Spool, dataset_digest
from axiom.domain.instances import InstanceStatus, OutgoingInstance
from axiom.domain.messages import InstanceMessage
from axiom.logging import phi_hash
from axiom.services import completion
from axiom.services import events as ev
from axiom.services.analysis import run_analyses, store_analyses
from axiom.services.crosswalks import UnknownCrosswalk
from axiom.services.deliver import Failure, by_priority, deliver_all, record_outcomes
from axiom.services.header_retention import store_received_header
from axiom.services.inference import infer_instance, stored_results
from axiom.services.language_models import audit_hook
from axiom.services.pseudonyms import record_pseudonyms
from axiom.services.runtime import ConfigSnapshot, Runtime
from rules.engine import AnalysisRequest, Plan, evaluate
from rules.model import InferenceResult, InferSpec, IngestContext
from rules.morph import MorphError, apply_actions

log = structlog.get_logger("axiom.route")


@dataclass
class RouteOutcome:
    # "dropped": a rule dropped the instance; no instance row, only a resolved exception row.
    # "inferring": handed to the gpu queue; it is routed again once its models have run.
    status: InstanceStatus | Literal["dropped", "inferring"]
    delivered: list[str] = field(default_factory=list)
    # (exception id, seconds until the first retry) for each transient failure.
    retries: list[tuple[int, float]] = field(default_factory=list)
    # Destination name -> error class of each failed delivery; every destination the rules chose.
    failed: dict[str, str] = field(default_factory=dict)
    routed_to: list[str] = field(default_factory=list)


def _context(
    message: InstanceMessage,
    lookup: Callable[[str, str], str | None],
    history: _History,
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


@dataclass(frozen=True)
class _History:
    """What the database knows of this instance before routing it (one short read)."""

    # Instances of this series recorded so far, plus this one (0 when no rule reads it).
    series_count: int
    # The same SOP Instance UID and content was delivered before, from another arrival.
    resent: bool
    # Destinations the ledger holds for this very arrival: a rerun after a crash.
    done_by_this_arrival: frozenset[str]
    # Stored model results for this content (read only when a rule runs a model or reads a result).
    inference: dict[str, InferenceResult] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        runtime: Runtime,
        message: InstanceMessage,
        dataset: Dataset,
        content_hash: str,
        count: bool,
        inference: bool = False,
    ) -> _History:
        with runtime.sessions() as session:
            series = str(dataset.get("SeriesInstanceUID", ""))
            recorded = instance_repo.series_instance_count(session, series) + 1 if count else 0
            prior = delivery_repo.prior_deliveries(session, message.sop_instance_uid, content_hash)
            results = stored_results(session, message.sop_instance_uid, content_hash) if inference else {}
        return cls(
            series_count=recorded,
            resent=any(p.spool_path != message.spool_path and p.status == "delivered" for p in prior),
            done_by_this_arrival=frozenset(
                p.destination for p in prior if p.spool_path == message.spool_path
            ),
            inference=results,
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
    with structlog.contextvars.bound_contextvars(
        correlation_id=message.correlation_id or None, sop_instance_uid=message.sop_instance_uid
    ):
        outcome = _route(runtime, message, now)
    if outcome is not None:
        _announce(runtime, message, outcome)
    return outcome


def _announce(runtime: Runtime, message: InstanceMessage, outcome: RouteOutcome) -> None:
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
    try:
        part10 = path.read_bytes()
        dataset = dcmread(BytesIO(part10))
    except FileNotFoundError:
        log.info("spooled file already processed", sop_instance_uid=message.sop_instance_uid)
        return None
    except Exception as exc:
        return _quarantine_unreadable(runtime, spool, path, message, exc)

    now = now or datetime.now(UTC)
    snapshot = runtime.config()
    keep_header = settings.header_retention_days > 0
    content_hash = dataset_digest(part10)
    history = _History.read(
        runtime, message, dataset, content_hash, snapshot.needs_series_count, snapshot.needs_inference
    )
    ctx = _context(message, runtime.crosswalks, history, now, runtime.anon_secret(snapshot))
    if snapshot.standardize_tags:
        ctx = ctx.model_copy(
            update={"standardized": _standardize(runtime, message, dataset, snapshot.standardize_tags)}
        )
    try:
        with metrics.RULE_SECONDS.time():
            plan = evaluate(snapshot.rulesets, dataset, ctx)
    except UnknownCrosswalk as exc:
        record = _Record(message, dataset, [], [], keep_header, runtime.patient_id_hash(dataset))
        return _hold(
            runtime, spool, record, InstanceStatus.QUARANTINED, "route", "UnknownCrosswalk", str(exc)
        )
    deferred_names = [name for item in plan.deferred for name in item.destinations]
    destinations = list(dict.fromkeys([*plan.destinations, *deferred_names]))
    record = _Record(
        message, dataset, list(plan.matched), destinations, keep_header, runtime.patient_id_hash(dataset)
    )
    if plan.disposition == "quarantine":
        return _hold(
            runtime, spool, record, InstanceStatus.QUARANTINED, "route", "RuleQuarantine", plan.reason
        )
    if plan.disposition == "drop":
        return _drop(runtime, spool, record, plan.reason)
    if plan.infer:
        # Models first: the instance is routed again once their results are stored, so rules that
        # read them (`inference` conditions) decide with them.
        return _infer_first(runtime, message, dataset, content_hash, list(plan.infer), now)
    if plan.analyze:
        # Then hosted analyses (anonymized copies only); their answers are stored like model results.
        return _analyze_first(runtime, message, dataset, content_hash, plan.analyze, now)
    if not plan.destinations and not plan.deferred:
        reason = "no rule routed this instance to a destination; kept in quarantine"
        return _hold(runtime, spool, record, InstanceStatus.NO_MATCH, "route", "NoMatchingRule", reason)
    try:
        outgoing_ds = apply_actions(dataset, plan.actions)
    except MorphError as exc:
        return _hold(runtime, spool, record, InstanceStatus.QUARANTINED, "morph", _error_class(exc), str(exc))

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
    # No transaction is open while delivering: rows are written once, after, in one short commit.
    # Higher-priority destinations are served first (a stable sort keeps the rules' order within one).
    # A rerun of this same arrival (a task redelivered after a crash) skips what it already did.
    names = [n for n in by_priority(immediate) if n not in history.done_by_this_arrival]
    failures = deliver_all(runtime, snapshot, outgoing, names)
    reports = _reports(runtime, snapshot, plan, dataset, outgoing, names, now)
    status = InstanceStatus.WAITING if waiting else InstanceStatus.DELIVERED
    if failures:
        status = InstanceStatus.FAILED if len(failures) == len(names) else InstanceStatus.PARTIAL
    outcome = RouteOutcome(
        status,
        [n for n in names if n not in failures],
        failed={name: failure.error_class for name, failure in failures.items()},
        routed_to=destinations,
    )
    with runtime.sessions() as session:
        instance_id = record.save(session, status)
        if plan.deferred:
            completion_repo.link_instance(session, message.sop_instance_uid, instance_id)
        outcome.retries = record_outcomes(
            session, outgoing, names, failures, instance_id=instance_id, spool_path=message.spool_path
        )
        for report, report_names, report_failures in reports:
            outcome.retries += record_outcomes(
                session, report, report_names, report_failures, instance_id=instance_id, spool_path=None
            )
        # What the anonymize action sent in place of the patient's identity, for re-identification.
        record_pseudonyms(session, plan.pseudonyms)
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


def _infer_first(
    runtime: Runtime,
    message: InstanceMessage,
    dataset: Dataset,
    content_hash: str,
    specs: list[InferSpec],
    now: datetime,
) -> RouteOutcome | None:
    if runtime.dispatch_inference is not None:
        runtime.dispatch_inference(message, specs)
        log.info("instance sent for inference", sop_instance_uid=message.sop_instance_uid)
        return RouteOutcome("inferring")
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
    # Every model asked for now has a stored result (ok, skipped or failed): this pass routes.
    return route_instance(runtime, message, now=now)


def _analyze_first(
    runtime: Runtime,
    message: InstanceMessage,
    dataset: Dataset,
    content_hash: str,
    requests: tuple[AnalysisRequest, ...],
    now: datetime,
) -> RouteOutcome | None:
    hook = audit_hook(runtime.sessions, "ai", message.sop_instance_uid)
    analyses = run_analyses(runtime.make_analyzer, hook, dataset, requests)
    with runtime.sessions() as session:
        store_analyses(
            session, analyses, sop_instance_uid=message.sop_instance_uid, content_hash=content_hash
        )
        session.commit()
    # Every analysis asked for now has a stored outcome (ok or failed): this pass routes.
    return route_instance(runtime, message, now=now)


@dataclass
class _Record:
    """What the database learns about one routed instance."""

    message: InstanceMessage
    dataset: Dataset
    matched: list[str]
    destinations: list[str]
    # Keep the received header (no bulk data) for replay: header_retention_days > 0.
    keep_header: bool = False
    # HMAC of the PatientID with the deployment secret (Runtime.patient_id_hash).
    patient_id_hash: str | None = None

    @property
    def study_uid(self) -> str:
        return str(self.dataset.get("StudyInstanceUID", ""))

    def save(self, session: Session, status: InstanceStatus, error: str | None = None) -> int:
        ds, message = self.dataset, self.message
        instance = instance_repo.upsert_instance(
            session,
            study_instance_uid=self.study_uid,
            series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
            sop_instance_uid=message.sop_instance_uid,
            sop_class_uid=message.sop_class_uid,
            modality=str(ds.get("Modality", "")) or None,
            transfer_syntax_uid=message.transfer_syntax_uid,
            patient_id_hash=self.patient_id_hash,
            study_date=str(ds.get("StudyDate", "")) or None,
            calling_ae=message.calling_ae,
            called_ae=message.called_ae,
            source=message.source,
            spool_path=message.spool_path,
            size_bytes=message.size_bytes,
            status=status,
        )
        instance_repo.set_instance_status(
            session,
            instance.id,
            status,
            matched_rules=self.matched,
            destinations=self.destinations,
            error=error,
        )
        if self.keep_header:
            store_received_header(session, instance.id, ds, datetime.fromisoformat(message.received_at))
        return instance.id


def _hold(
    runtime: Runtime,
    spool: Spool,
    record: _Record,
    status: InstanceStatus,
    stage: str,
    error_class: str,
    reason: str,
) -> RouteOutcome:
    """Keep an instance that goes nowhere in quarantine, with the exception row that says why."""
    kept = spool.quarantine_file(Path(record.message.spool_path))
    with runtime.sessions() as session:
        instance_id = record.save(session, status, error=None if stage == "route" else reason)
        exception_repo.add_exception(
            session,
            stage=stage,
            error_class=error_class,
            message=reason,
            sop_instance_uid=record.message.sop_instance_uid,
            study_instance_uid=record.study_uid,
            file_path=str(kept),
            instance_id=instance_id,
        )
        session.commit()
    return RouteOutcome(status)


def _drop(runtime: Runtime, spool: Spool, record: _Record, reason: str) -> RouteOutcome:
    """A rule dropped the instance: say so in a resolved exception row, then remove the file."""
    with runtime.sessions() as session:
        row = exception_repo.add_exception(
            session,
            stage="route",
            error_class="Dropped",
            message=reason,
            sop_instance_uid=record.message.sop_instance_uid,
            study_instance_uid=record.study_uid,
        )
        exception_repo.resolve_exception(session, row.id)
        session.commit()
    # Only after the row is committed: a crash in between leaves the file for a rerun, never a silent loss.
    spool.remove(Path(record.message.spool_path))
    log.info("instance dropped by rule", sop_instance_uid=record.message.sop_instance_uid)
    return RouteOutcome("dropped")


def _quarantine_unreadable(
    runtime: Runtime, spool: Spool, path: Path, message: InstanceMessage, exc: Exception
) -> RouteOutcome:
    kept = spool.quarantine_file(path)
    with runtime.sessions() as session:
        exception_repo.add_exception(
            session,
            stage="parse",
            error_class=_error_class(exc),
            message="spooled instance could not be read",
            sop_instance_uid=message.sop_instance_uid,
            study_instance_uid="",
            file_path=str(kept),
        )
        session.commit()
    log.error("unreadable spooled instance quarantined", sop_instance_uid=message.sop_instance_uid)
    return RouteOutcome(InstanceStatus.QUARANTINED)
