"""Audit trail of who changed what. ``details`` must hold no PHI (names, hashes, counts).

A row without an explicit correlation id takes the one bound to the structlog context (the API
binds one per request, see api/correlation.py), so an audit row can be found in the logs."""

from __future__ import annotations

from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.db.models import AuditLog


def add_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
    correlation_id: str | None = None,
) -> AuditLog:
    if correlation_id is None:
        # The id bound to the log context: the API request's, or the instance's in a worker.
        bound = structlog.contextvars.get_contextvars().get("correlation_id")
        correlation_id = str(bound)[:64] if bound else None
    row = AuditLog(actor=actor, action=action, target=target, details=details, correlation_id=correlation_id)
    session.add(row)
    return row


def created_by_prefix(session: Session, target: str, actor_prefix: str) -> bool:
    """Whether the latest ``user.created`` row for ``target`` was written by an actor whose name
    starts with ``actor_prefix`` (``"oidc:"``: created by the OIDC login)."""
    actor = session.scalars(
        select(AuditLog.actor)
        .where(AuditLog.action == "user.created", AuditLog.target == target)
        .order_by(AuditLog.id.desc())
        .limit(1)
    ).first()
    return actor is not None and actor.startswith(actor_prefix)
