"""Route one spooled instance: record it, evaluate the rules, morph, deliver to each destination.

Every destination ends in one of two states before the spooled file is removed: it has the instance,
or it holds an exception row with a copy of its own. A rerun of the same message (a redelivered task
after a killed worker) repeats the deliveries, which are idempotent per SOP Instance UID.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import structlog
from pydicom import Dataset, dcmread
from sqlalchemy.orm import Session

from axiom.db.repositories import exceptions as exception_repo
from axiom.db.repositories import instances as instance_repo
from axiom.destinations.base import DeliveryError
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus, OutgoingInstance
from axiom.domain.messages import InstanceMessage
from axiom.logging import phi_hash
from axiom.services.backoff import backoff_seconds
from axiom.services.crosswalks import UnknownCrosswalk
from axiom.services.exception_copies import keep_copy
from axiom.services.header_retention import store_received_header
from axiom.services.pseudonyms import record_pseudonyms
from axiom.services.runtime import ConfigSnapshot, Runtime
from rules.engine import evaluate
from rules.model import IngestContext
from rules.morph import MorphError, apply_actions

log = structlog.get_logger("axiom.route")

_PRIORITY_RANK = {"high": 0, "default": 1, "low": 2}


@dataclass
class RouteOutcome:
    # "dropped": a rule dropped the instance; no instance row, only a resolved exception row.
    status: InstanceStatus | Literal["dropped"]
    delivered: list[str] = field(default_factory=list)
    # (exception id, seconds until the first retry) for each transient failure.
    retries: list[tuple[int, float]] = field(default_factory=list)


def _context(
    message: InstanceMessage,
    lookup: Callable[[str, str], str | None],
    series_count: int,
    now: datetime,
    anon_secret: str = "",
) -> IngestContext:
    return IngestContext(
        lookup=lookup,
        anon_secret=anon_secret,
        series_instance_count=series_count,
        calling_ae=message.calling_ae,
        called_ae=message.called_ae,
        source=message.source,
        received_at=datetime.fromisoformat(message.received_at),
        # The engine has no clock: scheduled rulesets are checked against this.
        now=now,
    )


def _series_count(runtime: Runtime, dataset: Dataset) -> int:
    """Instances of this series recorded so far, plus this one."""
    with runtime.sessions() as session:
        recorded = instance_repo.series_instance_count(session, str(dataset.get("SeriesInstanceUID", "")))
    return recorded + 1


def _error_class(exc: BaseException) -> str:
    return type(exc).__name__


def route_instance(
    runtime: Runtime, message: InstanceMessage, *, now: datetime | None = None
) -> RouteOutcome | None:
    """Process one message; None when its spooled file is already gone (a duplicate delivery).

    ``now`` is the clock reading scheduled rulesets are checked against (default: the current time).
    """
    settings = runtime.settings
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    path = Path(message.spool_path)
    try:
        dataset = dcmread(path)
    except FileNotFoundError:
        log.info("spooled file already processed", sop_instance_uid=message.sop_instance_uid)
        return None
    except Exception as exc:
        return _quarantine_unreadable(runtime, spool, path, message, exc)

    snapshot = runtime.config()
    keep_header = settings.header_retention_days > 0
    try:
        series_count = _series_count(runtime, dataset) if snapshot.needs_series_count else 0
        plan = evaluate(
            snapshot.rulesets,
            dataset,
            _context(
                message,
                runtime.crosswalks,
                series_count,
                now or datetime.now(UTC),
                runtime.anon_secret(snapshot),
            ),
        )
    except UnknownCrosswalk as exc:
        record = _Record(message, dataset, [], [], keep_header)
        return _hold(
            runtime, spool, record, InstanceStatus.QUARANTINED, "route", "UnknownCrosswalk", str(exc)
        )
    record = _Record(message, dataset, list(plan.matched), list(plan.destinations), keep_header)
    if plan.disposition == "quarantine":
        return _hold(
            runtime, spool, record, InstanceStatus.QUARANTINED, "route", "RuleQuarantine", plan.reason
        )
    if plan.disposition == "drop":
        return _drop(runtime, spool, record, plan.reason)
    if not plan.destinations:
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
    )
    # No transaction is open while delivering: rows are written once, after, in one short commit.
    # Higher-priority destinations are served first (a stable sort keeps the rules' order within one).
    order = sorted(record.destinations, key=lambda name: _PRIORITY_RANK[plan.priorities.get(name, "default")])
    failures = _deliver_all(runtime, snapshot, outgoing, order)
    status = InstanceStatus.DELIVERED
    if failures:
        all_failed = len(failures) == len(record.destinations)
        status = InstanceStatus.FAILED if all_failed else InstanceStatus.PARTIAL
    outcome = RouteOutcome(status, [n for n in record.destinations if n not in failures])
    with runtime.sessions() as session:
        instance_id = record.save(session, status)
        # What the anonymize action sent in place of the patient's identity, for re-identification.
        record_pseudonyms(session, plan.pseudonyms)
        for name, failure in failures.items():
            exception_id = _record_failure(session, outgoing, name, instance_id, failure)
            if failure.retry_in is not None:
                outcome.retries.append((exception_id, failure.retry_in))
        session.commit()
    # Only now is every destination served or covered by its own copy.
    spool.remove(path)
    return outcome


@dataclass
class _Record:
    """What the database learns about one routed instance."""

    message: InstanceMessage
    dataset: Dataset
    matched: list[str]
    destinations: list[str]
    # Keep the received header (no bulk data) for replay: header_retention_days > 0.
    keep_header: bool = False

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
            patient_id_hash=phi_hash(ds.get("PatientID", "")),
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


@dataclass(frozen=True)
class _Failure:
    error_class: str
    reason: str
    copy: Path
    retry_in: float | None  # None: permanent, not retried automatically


def _deliver_all(
    runtime: Runtime, snapshot: ConfigSnapshot, outgoing: OutgoingInstance, names: list[str]
) -> dict[str, _Failure]:
    settings = runtime.settings
    failures: dict[str, _Failure] = {}
    for name in names:
        try:
            runtime.destination(snapshot, name).send(outgoing)
        except Exception as exc:
            unknown = isinstance(exc, KeyError)
            transient = exc.transient if isinstance(exc, DeliveryError) else not unknown
            retry_in = (
                backoff_seconds(1, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
                if transient
                else None
            )
            failures[name] = _Failure(
                error_class=_error_class(exc),
                reason=f"destination {name!r} is not configured" if unknown else str(exc),
                copy=keep_copy(outgoing, settings.exceptions_dir, fsync=settings.spool_fsync),
                retry_in=retry_in,
            )
            log.warning(
                "delivery failed",
                destination=name,
                sop_instance_uid=outgoing.sop_instance_uid,
                error=_error_class(exc),
                transient=transient,
            )
    return failures


def _record_failure(
    session: Session,
    outgoing: OutgoingInstance,
    destination: str,
    instance_id: int,
    failure: _Failure,
) -> int:
    row = exception_repo.add_exception(
        session,
        stage="deliver",
        error_class=failure.error_class,
        message=failure.reason,
        sop_instance_uid=outgoing.sop_instance_uid,
        study_instance_uid=outgoing.study_instance_uid,
        destination=destination,
        file_path=str(failure.copy),
        instance_id=instance_id,
        attempts=1,
        next_retry_at=(
            datetime.now(UTC) + timedelta(seconds=failure.retry_in) if failure.retry_in is not None else None
        ),
    )
    if failure.retry_in is None:
        # Permanent refusal: retrying would only repeat it; an admin retries after fixing the cause.
        exception_repo.dead_letter(session, row.id)
    return row.id


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
