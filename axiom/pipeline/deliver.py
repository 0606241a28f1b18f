"""Send one outgoing instance to a list of destinations; each failure gets its own copy and an
exception row, so the caller can let go of its file whatever the peers did.

Shared by the per-instance route and by series/study groups firing once complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from pydicom.uid import UID
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.db.models import DeliveryStatus
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories import exceptions as exception_repo
from axiom.destinations.base import DeliveryError
from axiom.dicom.transcode import TranscodeError, resolve_target, transcode
from axiom.domain.instances import OutgoingInstance
from axiom.pipeline.backoff import backoff_seconds
from axiom.pipeline.exception_copies import keep_copy
from axiom.pipeline.runtime import ConfigSnapshot, Runtime

log = structlog.get_logger("axiom.deliver")

PRIORITY_RANK = {"high": 0, "default": 1, "low": 2}


def by_priority(priorities: Mapping[str, str], names: list[str] | None = None) -> list[str]:
    """Destination names, higher priority first; a stable sort keeps the rules' order within one."""
    return sorted(
        names if names is not None else priorities, key=lambda n: PRIORITY_RANK[priorities.get(n, "default")]
    )


class CircuitOpen(DeliveryError):
    """Not tried: the destination's circuit breaker is open after repeated failures.

    ``retry_after``: seconds until the breaker lets a probe through. A retry that meets an open
    circuit waits that long and does not count as an attempt: the peer was not asked.
    """

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(
            f"circuit breaker open for destination {name!r}; not tried", transient=True, code="circuit-open"
        )
        self.retry_after = retry_after


def send(runtime: Runtime, snapshot: ConfigSnapshot, name: str, outgoing: OutgoingInstance) -> None:
    """One send through the destination's shared limits; KeyError when it is not configured.

    Transient failures count toward the breaker; any answer from the peer (a success or a permanent
    refusal) shows it is up and closes it.
    """
    config = snapshot.destination_configs[name]
    guard = runtime.guard
    if not guard.allows(config):
        raise CircuitOpen(name, guard.breaker(config).open_for_seconds)
    if config.transfer_syntax:
        outgoing = _in_syntax(outgoing, resolve_target(config.transfer_syntax))
    try:
        with guard.slot(config):
            runtime.destination(snapshot, name).send(outgoing)
    except DeliveryError as exc:
        (guard.failed if exc.transient else guard.succeeded)(config)
        raise
    except Exception:
        guard.failed(config)
        raise
    guard.succeeded(config)


def _in_syntax(outgoing: OutgoingInstance, target: UID) -> OutgoingInstance:
    try:
        converted = transcode(outgoing.dataset, target)
    except TranscodeError as exc:
        raise DeliveryError(
            f"{exc} (SOP Instance UID {outgoing.sop_instance_uid})", transient=False, code="transcode"
        ) from None
    if converted is outgoing.dataset:
        return outgoing
    return replace(outgoing, dataset=converted, source_file=None)


@dataclass(frozen=True)
class Failure:
    error_class: str
    reason: str
    copy: Path
    retry_in: float | None  # None: permanent, not retried automatically


def _failure(runtime: Runtime, outgoing: OutgoingInstance, name: str, exc: BaseException) -> Failure:
    """The failure record of one send: classified, with its own copy for the retry."""
    settings = runtime.settings
    unknown = isinstance(exc, KeyError)
    transient = exc.transient if isinstance(exc, DeliveryError) else not unknown
    retry_in = (
        backoff_seconds(1, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        if transient
        else None
    )
    metrics.FAILED.labels(destination=name, status="transient" if transient else "permanent").inc()
    log.warning(
        "delivery failed",
        destination=name,
        sop_instance_uid=outgoing.sop_instance_uid,
        error=type(exc).__name__,
        transient=transient,
    )
    return Failure(
        error_class=type(exc).__name__,
        reason=f"destination {name!r} is not configured" if unknown else str(exc),
        copy=keep_copy(outgoing, settings.exceptions_dir, fsync=settings.spool_fsync),
        retry_in=retry_in,
    )


def deliver_all(
    runtime: Runtime, snapshot: ConfigSnapshot, outgoing: OutgoingInstance, names: list[str]
) -> dict[str, Failure]:
    """Send to each destination in order; no database transaction is open meanwhile."""
    failures: dict[str, Failure] = {}
    for name in names:
        try:
            with metrics.DELIVERY_SECONDS.labels(destination=name).time():
                send(runtime, snapshot, name, outgoing)
            metrics.DELIVERED.labels(destination=name).inc()
        except Exception as exc:
            failures[name] = _failure(runtime, outgoing, name, exc)
    return failures


def _send_batch(
    runtime: Runtime, snapshot: ConfigSnapshot, name: str, outgoings: list[OutgoingInstance]
) -> list[BaseException | None]:
    """Several instances in the destination's batched requests, through its shared limits once."""
    config = snapshot.destination_configs[name]
    guard = runtime.guard
    if not guard.allows(config):
        wait = guard.breaker(config).open_for_seconds
        return [CircuitOpen(name, wait) for _ in outgoings]
    ready: list[OutgoingInstance] = []
    errors: list[BaseException | None] = []
    for outgoing in outgoings:
        try:
            target = config.transfer_syntax
            ready.append(_in_syntax(outgoing, resolve_target(target)) if target else outgoing)
            errors.append(None)
        except DeliveryError as exc:
            errors.append(exc)
    with guard.slot(config):
        results = iter(runtime.destination(snapshot, name).send_batch(ready))
    outcome = [error if error is not None else next(results) for error in errors]
    failed = [r for r in outcome if isinstance(r, BaseException)]
    (guard.failed if any(getattr(r, "transient", True) for r in failed) else guard.succeeded)(config)
    return [r if isinstance(r, BaseException) else None for r in outcome]


def deliver_many(
    runtime: Runtime, snapshot: ConfigSnapshot, outgoings: list[OutgoingInstance], names: list[str]
) -> list[dict[str, Failure]]:
    """Like ``deliver_all`` for several instances: destinations with ``supports_batch`` (STOW-RS)
    get them in batched requests, the others one by one. One failure map per instance, in order."""
    failures: list[dict[str, Failure]] = [{} for _ in outgoings]
    for name in names:
        config = snapshot.destination_configs.get(name)
        batched = config is not None and len(outgoings) > 1
        if batched:
            batched = runtime.destination(snapshot, name).supports_batch
        if not batched:
            for index, outgoing in enumerate(outgoings):
                try:
                    send(runtime, snapshot, name, outgoing)
                    metrics.DELIVERED.labels(destination=name).inc()
                except Exception as exc:
                    failures[index][name] = _failure(runtime, outgoing, name, exc)
            continue
        for index, error in enumerate(_send_batch(runtime, snapshot, name, outgoings)):
            if error is not None:
                failures[index][name] = _failure(runtime, outgoings[index], name, error)
            else:
                metrics.DELIVERED.labels(destination=name).inc()
    return failures


def record_failure(
    session: Session,
    outgoing: OutgoingInstance,
    destination: str,
    instance_id: int | None,
    failure: Failure,
) -> int:
    """The exception row of one failed delivery; permanent refusals are dead-lettered at once."""
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


def record_outcomes(
    session: Session,
    outgoing: OutgoingInstance,
    names: list[str],
    failures: dict[str, Failure],
    *,
    instance_id: int | None,
    spool_path: str | None,
    sent_hash: str | None = None,
) -> list[tuple[int, float]]:
    """An exception row per failure and a ledger row per destination; returns (exception id,
    seconds to first retry) of the transient failures."""
    retries: list[tuple[int, float]] = []
    for name in names:
        failure = failures.get(name)
        exception_id = None
        if failure is not None:
            exception_id = record_failure(session, outgoing, name, instance_id, failure)
            if failure.retry_in is not None:
                retries.append((exception_id, failure.retry_in))
        if outgoing.content_hash:
            delivery_repo.record(
                session,
                sop_instance_uid=outgoing.sop_instance_uid,
                content_hash=outgoing.content_hash,
                destination=name,
                status=DeliveryStatus.FAILED if failure else DeliveryStatus.DELIVERED,
                instance_id=instance_id,
                spool_path=spool_path,
                exception_id=exception_id,
                sent_hash=None if failure else sent_hash,
            )
    return retries
