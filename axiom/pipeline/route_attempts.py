"""Failed attempts to route an arrival: counted, logged, and bounded (issue: no poison loops).

A value that makes routing fail fails again on every retry and every spool sweep. Each failure is
counted per spooled file in its own short transaction (an outage, such as the database down or the
disk full, is not counted: that is not the instance's fault); past ``route_max_attempts`` the
instance is held in quarantine as a dead exception row, visible in ``axiom exceptions list``.
"""

from __future__ import annotations

import errno

import structlog
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError

from axiom import metrics
from axiom.db.repositories import route_attempts as repo
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.runtime import Runtime

log = structlog.get_logger("axiom.route")

# Disk errors of an outage (Axiom's own disk is full), not of one instance.
_OUTAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def is_outage(exc: BaseException) -> bool:
    """A failure of the surroundings (the database unreachable or locked, the disk full): retried,
    never counted against the instance."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError):
        return True
    return isinstance(exc, OSError) and exc.errno in _OUTAGE_ERRNOS


def describe(exc: BaseException) -> str:
    """The error class, and for a database error the database's first line (no bound values)."""
    name = type(exc).__name__
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        first = str(exc.orig).strip().splitlines()
        return f"{name}: {first[0][:200]}" if first else name
    return name


def count_failure(runtime: Runtime, message: InstanceMessage, exc: BaseException) -> int:
    """Count one failed attempt at routing ``message``; 0 when it is not counted (an outage) or
    could not be counted."""
    metrics.PROCESSED.labels(status="error").inc()
    if is_outage(exc):
        log.error("routing failed; retried", sop_instance_uid=message.sop_instance_uid, error=describe(exc))
        return 0
    try:
        with runtime.sessions() as session:
            attempts = repo.count_failure(session, message.spool_path, type(exc).__name__)
            session.commit()
    except Exception as count_exc:
        log.error(
            "routing failed; the attempt could not be counted",
            sop_instance_uid=message.sop_instance_uid,
            error=describe(exc),
            count_error=type(count_exc).__name__,
        )
        return 0
    log.error(
        "routing failed",
        sop_instance_uid=message.sop_instance_uid,
        error=describe(exc),
        attempt=attempts,
        max_attempts=runtime.settings.route_max_attempts,
    )
    return attempts
