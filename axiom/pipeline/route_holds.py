"""How a route ends when it delivers nothing: held in quarantine (no rule, a rule's quarantine, a
failed edit, an unreadable file, repeated failures) or dropped by a rule, each with its exception row.

The row is committed before the file moves, so a failed commit leaves the file in the spool for the
retry, and a crash after the commit leaves a row the rerun finds (it then only moves the file).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog
from sqlalchemy.orm import Session

from axiom.db.models import UID_LENGTH
from axiom.db.repositories import exceptions as exception_repo
from axiom.db.repositories import route_attempts as attempt_repo
from axiom.db.session import make_durable
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.route_record import InstanceRecord
from axiom.pipeline.runtime import Runtime

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
    # Destinations that already had this content from an earlier arrival (on_duplicate: skip).
    skipped: list[str] = field(default_factory=list)


def keep_in_quarantine(
    runtime: Runtime,
    spool: Spool,
    message: InstanceMessage,
    *,
    stage: str,
    error_class: str,
    reason: str,
    study_instance_uid: str = "",
    dead: bool = False,
    record: Callable[[Session], int] | None = None,
    attempts: int = 1,
) -> Path:
    """Commit the row (and what ``record`` writes: the instance row), then move the file."""
    path = Path(message.spool_path)
    kept = spool.quarantine_target(path)
    # The row must be writable whatever was received: an over-long UID must not fail it too.
    sop_uid, study_uid = message.sop_instance_uid[:UID_LENGTH], study_instance_uid[:UID_LENGTH]
    with runtime.sessions() as session:
        make_durable(session)  # committed before the spooled file moves or goes
        if not exception_repo.has_file(session, sop_uid, str(kept)):
            instance_id = record(session) if record is not None else None
            row = exception_repo.add_exception(
                session,
                stage=stage,
                error_class=error_class,
                message=reason,
                sop_instance_uid=sop_uid,
                study_instance_uid=study_uid,
                file_path=str(kept),
                instance_id=instance_id,
                attempts=attempts,
            )
            if dead:
                exception_repo.dead_letter(session, row.id)
            attempt_repo.clear(session, message.spool_path)
            session.commit()
    spool.quarantine_file(path)
    return kept


def hold(
    runtime: Runtime,
    spool: Spool,
    record: InstanceRecord,
    status: InstanceStatus,
    stage: str,
    error_class: str,
    reason: str,
) -> RouteOutcome:
    """Keep an instance that goes nowhere in quarantine, with the exception row that says why."""
    keep_in_quarantine(
        runtime,
        spool,
        record.message,
        stage=stage,
        error_class=error_class,
        reason=reason,
        study_instance_uid=record.study_uid,
        record=lambda session: record.save(session, status, error=None if stage == "route" else reason),
    )
    return RouteOutcome(status)


def drop(runtime: Runtime, spool: Spool, record: InstanceRecord, reason: str) -> RouteOutcome:
    """A rule dropped the instance: say so in a resolved exception row, then remove the file."""
    with runtime.sessions() as session:
        make_durable(session)  # committed before the spooled file moves or goes
        row = exception_repo.add_exception(
            session,
            stage="route",
            error_class="Dropped",
            message=reason,
            sop_instance_uid=record.message.sop_instance_uid,
            study_instance_uid=record.study_uid,
        )
        exception_repo.resolve_exception(session, row.id)
        attempt_repo.clear(session, record.message.spool_path)
        session.commit()
    # Only after the row is committed: a crash in between leaves the file for a rerun, never a silent loss.
    spool.remove(Path(record.message.spool_path))
    log.info("instance dropped by rule", sop_instance_uid=record.message.sop_instance_uid)
    return RouteOutcome("dropped")


def quarantine_unreadable(
    runtime: Runtime, spool: Spool, path: Path, message: InstanceMessage, exc: Exception
) -> RouteOutcome:
    keep_in_quarantine(
        runtime,
        spool,
        message,
        stage="parse",
        error_class=type(exc).__name__,
        reason="spooled instance could not be read",
    )
    log.error("unreadable spooled instance quarantined", sop_instance_uid=message.sop_instance_uid)
    return RouteOutcome(InstanceStatus.QUARANTINED)


def give_up(runtime: Runtime, message: InstanceMessage, attempts: int, error_class: str) -> RouteOutcome:
    """Past route_max_attempts: held in quarantine as a dead row, never delivered again by itself."""
    settings = runtime.settings
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    keep_in_quarantine(
        runtime,
        spool,
        message,
        stage="route",
        error_class=error_class,
        reason=f"routing failed {attempts} times (last: {error_class}); held for a person, see the logs",
        dead=True,
        attempts=attempts,
    )
    log.error("instance held after repeated routing failures", attempts=attempts, error=error_class)
    return RouteOutcome(InstanceStatus.QUARANTINED)
