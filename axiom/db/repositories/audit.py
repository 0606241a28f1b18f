"""Audit trail of who changed what. ``details`` must hold no PHI (names, hashes, counts)."""

from __future__ import annotations

from typing import Any

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
    row = AuditLog(actor=actor, action=action, target=target, details=details, correlation_id=correlation_id)
    session.add(row)
    return row
