"""Retry one failed delivery from its exception copy, with backoff, until delivered or dead-lettered."""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from pydicom import dcmread

from axiom import metrics
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories import exceptions as exception_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.session import make_durable
from axiom.destinations.base import DeliveryError
from axiom.domain.instances import OutgoingInstance
from axiom.infra import events as ev
from axiom.pipeline.backoff import backoff_seconds
from axiom.pipeline.deliver import CircuitOpen, send
from axiom.pipeline.runtime import Runtime

log = structlog.get_logger("axiom.retry")

OPEN = "open"


@dataclass(frozen=True)
class RetryOutcome:
    state: str  # "delivered", "retry", "dead" or "skipped" (not open any more)
    next_delay: float | None = None


def retry_delivery(runtime: Runtime, exception_id: int) -> RetryOutcome:
    settings = runtime.settings
    with runtime.sessions() as session:
        row = exception_repo.get_exception(session, exception_id)
        if row is None or row.status != OPEN or not row.destination or not row.file_path:
            return RetryOutcome("skipped")
        destination, path, attempts = row.destination, Path(row.file_path), row.attempts + 1
        sop_uid, study_uid, instance_id = row.sop_instance_uid, row.study_instance_uid or "", row.instance_id

    # No transaction is open during the send: a slow peer must not hold database locks.
    try:
        outgoing = OutgoingInstance(
            dataset=dcmread(path), source_file=path, sop_instance_uid=sop_uid, study_instance_uid=study_uid
        )
        send(runtime, runtime.config(), destination, outgoing)
    except CircuitOpen as exc:
        # Not an attempt: wait for the breaker's probe window (a little jitter spreads the rows).
        wait = exc.retry_after + random.uniform(0.5, 2.0)
        with runtime.sessions() as session:
            exception_repo.postpone(session, exception_id, datetime.now(UTC) + timedelta(seconds=wait))
            session.commit()
        return RetryOutcome("retry", wait)
    except Exception as exc:
        transient = exc.transient if isinstance(exc, DeliveryError) else not isinstance(exc, KeyError)
        dead = not transient or attempts >= settings.retry_max_attempts
        delay = (
            None
            if dead
            else backoff_seconds(attempts, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        )
        with runtime.sessions() as session:
            exception_repo.record_attempt(
                session,
                exception_id,
                error_class=type(exc).__name__,
                message=str(exc),
                next_retry_at=None if delay is None else datetime.now(UTC) + timedelta(seconds=delay),
            )
            if dead:
                exception_repo.dead_letter(session, exception_id)
            session.commit()
        metrics.FAILED.labels(destination=destination, status="permanent" if dead else "transient").inc()
        runtime.events.emit(
            ev.FAILED, sop_instance_uid=sop_uid, destination=destination, status="dead" if dead else "retry"
        )
        if dead:
            log.error("delivery dead-lettered", exception_id=exception_id, destination=destination)
            return RetryOutcome("dead")
        return RetryOutcome("retry", delay)

    with runtime.sessions() as session:
        make_durable(session)  # committed before the exception's copy goes
        exception_repo.resolve_exception(session, exception_id)
        delivery_repo.delivered_after_retry(session, exception_id)
        if instance_id is not None:
            # The instance's status follows its retries: partial until every destination has it.
            delivered, failed = delivery_repo.instance_outcome(session, instance_id, sop_uid)
            instance_repo.settle_status(session, instance_id, delivered=delivered, failed=failed)
        session.commit()
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    metrics.DELIVERED.labels(destination=destination).inc()
    runtime.events.emit(ev.DELIVERED, sop_instance_uid=sop_uid, destination=destination, status="retried")
    log.info("delivery retried successfully", exception_id=exception_id)
    return RetryOutcome("delivered")


def due_retries(runtime: Runtime, *, grace_seconds: float, limit: int = 500) -> list[int]:
    """Open rows whose retry is overdue by ``grace_seconds``: their scheduled task was lost."""
    with runtime.sessions() as session:
        now = datetime.now(UTC) - timedelta(seconds=grace_seconds)
        return [row.id for row in exception_repo.due_exceptions(session, now, limit=limit)]
