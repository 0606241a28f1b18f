"""The exception log filtered by what an operator triages on, counted and paged, and one action
(retry or discard) over many rows: chosen ids or every row that matches a filter.

Each row goes through ``exception_admin`` (which audits it); the bulk action adds one audit row of
its own naming the selection and the outcome counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from axiom.admin import exception_admin
from axiom.db.models import ExceptionLog, ExceptionStatus
from axiom.db.repositories import audit as audit_repo
from axiom.pipeline.runtime import Runtime

# One action touches at most this many rows; "all that match" beyond it needs another pass.
MAX_BULK = 5000


@dataclass(frozen=True)
class ExceptionQuery:
    status: str | None = None
    destination: str | None = None
    stage: str | None = None
    error_class: str | None = None
    older_than_minutes: int | None = None
    newer_than_minutes: int | None = None
    study_instance_uid: str | None = None

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


def _select(query: ExceptionQuery, *, now: datetime | None = None) -> Select[Any]:
    now = now or datetime.now(UTC)
    stmt = select(ExceptionLog)
    if query.status:
        stmt = stmt.where(ExceptionLog.status == ExceptionStatus(query.status))
    if query.destination:
        stmt = stmt.where(ExceptionLog.destination == query.destination)
    if query.stage:
        stmt = stmt.where(ExceptionLog.stage == query.stage)
    if query.error_class:
        stmt = stmt.where(ExceptionLog.error_class == query.error_class)
    if query.study_instance_uid:
        stmt = stmt.where(ExceptionLog.study_instance_uid == query.study_instance_uid)
    if query.older_than_minutes:
        stmt = stmt.where(ExceptionLog.created_at < now - timedelta(minutes=query.older_than_minutes))
    if query.newer_than_minutes:
        stmt = stmt.where(ExceptionLog.created_at >= now - timedelta(minutes=query.newer_than_minutes))
    return stmt


def search(
    session: Session, query: ExceptionQuery, *, limit: int, offset: int
) -> tuple[int, list[ExceptionLog]]:
    """(total, one page), newest first."""
    stmt = _select(query)
    total = int(session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page = session.scalars(
        stmt.order_by(ExceptionLog.created_at.desc(), ExceptionLog.id.desc()).limit(limit).offset(offset)
    )
    return total, list(page)


def facets(session: Session) -> dict[str, list[str]]:
    """The values the filters offer: destinations, stages and error classes present in the log."""
    out: dict[str, list[str]] = {}
    for name, column in (
        ("destinations", ExceptionLog.destination),
        ("stages", ExceptionLog.stage),
        ("error_classes", ExceptionLog.error_class),
    ):
        out[name] = sorted(str(v) for v in session.scalars(select(column).distinct().limit(200)) if v)
    return out


def matching_ids(session: Session, query: ExceptionQuery) -> list[int]:
    """Ids of the actionable rows (open or dead) that match, oldest first, at most MAX_BULK."""
    stmt = _select(query).where(ExceptionLog.status.in_(exception_admin.ACTIONABLE))
    ids = session.scalars(stmt.with_only_columns(ExceptionLog.id).order_by(ExceptionLog.id).limit(MAX_BULK))
    return list(ids)


@dataclass(frozen=True)
class BulkResult:
    action: str
    requested: int
    outcomes: dict[str, int]  # outcome -> rows (delivered, retry, dead, discarded, not actionable, ...)
    errors: dict[int, str]


def bulk_act(
    runtime: Runtime, action: str, ids: list[int], *, actor: str, selection: dict[str, Any] | None = None
) -> BulkResult:
    """Retry or discard each row (each audited by exception_admin), then one bulk audit row."""
    if action not in ("retry", "discard"):
        raise ValueError(f"unknown bulk action {action!r}")
    ids = sorted(set(ids))[:MAX_BULK]
    outcomes: Counter[str] = Counter()
    errors: dict[int, str] = {}
    for exception_id in ids:
        try:
            if action == "retry":
                outcome = exception_admin.retry_now(runtime, exception_id, actor=actor)
            else:
                exception_admin.discard(runtime, exception_id, actor=actor)
                outcome = "discarded"
            outcomes[outcome.split(":")[0]] += 1
        except (LookupError, exception_admin.NotActionable) as exc:
            outcomes["not actionable"] += 1
            errors[exception_id] = str(exc)
    with runtime.sessions() as session:
        audit_repo.add_audit(
            session,
            actor=actor,
            action=f"exception.bulk_{action}",
            target=f"exceptions:{len(ids)}",
            details={"selection": selection or {"ids": ids[:100]}, "outcomes": dict(outcomes)},
        )
        session.commit()
    return BulkResult(action, len(ids), dict(outcomes), errors)
