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
from axiom.services.backoff import backoff_seconds
from axiom.services.exception_copies import keep_copy
from axiom.services.runtime import ConfigSnapshot, Runtime

log = structlog.get_logger("axiom.deliver")

PRIORITY_RANK = {"high": 0, "default": 1, "low": 2}


def by_priority(priorities: Mapping[str, str], names: list[str] | None = None) -> list[str]:
    """Destination names, higher priority first; a stable sort keeps the rules' order within one."""
    return sorted(
        names if names is not None else priorities, key=lambda n: PRIORITY_RANK[priorities.get(n, "default")]
    )


class CircuitOpen(DeliveryError):
    """Not tried: the destination's circuit breaker is open after repeated failures."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"circuit breaker open for destination {name!r}; not tried", transient=True, code="circuit-open"
        )


def send(runtime: Runtime, snapshot: ConfigSnapshot, name: str, outgoing: OutgoingInstance) -> None:
    """One send through the destination's shared limits; KeyError when it is not configured.

    Transient failures count toward the breaker; any answer from the peer (a success or a permanent
    refusal) shows it is up and closes it.
    """
    config = snapshot.destination_configs[name]
    guard = runtime.guard
    if not guard.allows(config):
        raise CircuitOpen(name)
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


def deliver_all(
    runtime: Runtime, snapshot: ConfigSnapshot, outgoing: OutgoingInstance, names: list[str]
) -> dict[str, Failure]:
    """Send to each destination in order; no database transaction is open meanwhile."""
    settings = runtime.settings
    failures: dict[str, Failure] = {}
    for name in names:
        try:
            with metrics.DELIVERY_SECONDS.labels(destination=name).time():
                send(runtime, snapshot, name, outgoing)
            metrics.DELIVERED.labels(destination=name).inc()
        except Exception as exc:
            unknown = isinstance(exc, KeyError)
            transient = exc.transient if isinstance(exc, DeliveryError) else not unknown
            retry_in = (
                backoff_seconds(1, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
                if transient
                else None
            )
            metrics.FAILED.labels(
                destination=name, status="transient" if retry_in is not None else "permanent"
            ).inc()
            failures[name] = Failure(
                error_class=type(exc).__name__,
                reason=f"destination {name!r} is not configured" if unknown else str(exc),
                copy=keep_copy(outgoing, settings.exceptions_dir, fsync=settings.spool_fsync),
                retry_in=retry_in,
            )
            log.warning(
                "delivery failed",
                destination=name,
                sop_instance_uid=outgoing.sop_instance_uid,
                error=type(exc).__name__,
                transient=transient,
            )
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
            )
    return retries
