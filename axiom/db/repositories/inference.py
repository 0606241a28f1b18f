"""Stored model results per instance content (the ``infer`` rule action)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from axiom.db.models import InferenceRecord


def results_for(session: Session, sop_instance_uid: str, content_hash: str) -> list[InferenceRecord]:
    stmt = select(InferenceRecord).where(
        InferenceRecord.sop_instance_uid == sop_instance_uid, InferenceRecord.content_hash == content_hash
    )
    return list(session.scalars(stmt))


def save_result(
    session: Session,
    *,
    sop_instance_uid: str,
    content_hash: str,
    model: str,
    model_version: str,
    status: str,
    label: str,
    scores: dict[str, float],
    provider: str,
    duration_ms: float,
) -> InferenceRecord:
    """Insert or replace the result of ``model`` for this content (a rerun overwrites its own row)."""
    stmt = select(InferenceRecord).where(
        InferenceRecord.sop_instance_uid == sop_instance_uid,
        InferenceRecord.content_hash == content_hash,
        InferenceRecord.model == model,
    )
    row = session.scalars(stmt).first()
    if row is None:
        row = InferenceRecord(sop_instance_uid=sop_instance_uid, content_hash=content_hash, model=model)
        session.add(row)
    row.model_version = model_version
    row.status = status
    row.label = label
    row.scores = dict(scores)
    row.provider = provider
    row.duration_ms = duration_ms
    session.flush()
    return row


def providers_in_use(session: Session) -> dict[str, str]:
    """``model:version`` -> the execution provider of its latest run (for readiness and metrics)."""
    # One row per model version (its newest), not a scan of every result: /ready asks on each probe.
    newest = (
        select(func.max(InferenceRecord.id))
        .where(InferenceRecord.provider != "")
        .group_by(InferenceRecord.model, InferenceRecord.model_version)
    )
    stmt = select(InferenceRecord.model, InferenceRecord.model_version, InferenceRecord.provider).where(
        InferenceRecord.id.in_(newest)
    )
    return {f"{model}:{version}": provider for model, version, provider in session.execute(stmt)}


def model_stats(session: Session) -> list[tuple[str, str, str, int, float]]:
    """(model, version, status, results, mean duration in ms) over the stored results."""
    stmt = (
        select(
            InferenceRecord.model,
            InferenceRecord.model_version,
            InferenceRecord.status,
            func.count(),
            func.avg(InferenceRecord.duration_ms),
        )
        .group_by(InferenceRecord.model, InferenceRecord.model_version, InferenceRecord.status)
        .order_by(InferenceRecord.model, InferenceRecord.model_version, InferenceRecord.status)
    )
    return [(m, v, s, int(n), float(avg or 0.0)) for m, v, s, n, avg in session.execute(stmt)]
