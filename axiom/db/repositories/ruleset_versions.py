"""Ruleset versions: append-only snapshots, numbered 1, 2, ... per ruleset name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from axiom.db.models import RulesetVersion


class VersionNotFound(LookupError):
    pass


def latest_version(session: Session, name: str) -> RulesetVersion | None:
    stmt = (
        select(RulesetVersion)
        .where(RulesetVersion.ruleset_name == name)
        .order_by(RulesetVersion.version.desc())
        .limit(1)
    )
    return session.scalars(stmt).one_or_none()


def add_version(
    session: Session,
    *,
    name: str,
    definition: dict[str, Any],
    content_hash: str,
    actor: str,
    action: str,
    restored_from: int | None = None,
) -> RulesetVersion:
    """Append the next version of ``name``; flushed, so a clash with a concurrent writer raises here.

    Callers serialise writers (apply and rollback lock the config_state row first); the unique
    constraint on (ruleset_name, version) is the backstop.
    """
    current = session.scalar(
        select(func.max(RulesetVersion.version)).where(RulesetVersion.ruleset_name == name)
    )
    row = RulesetVersion(
        ruleset_name=name,
        version=int(current or 0) + 1,
        definition=definition,
        content_hash=content_hash,
        actor=actor,
        action=action,
        restored_from=restored_from,
    )
    session.add(row)
    session.flush()
    return row


def list_versions(session: Session, name: str) -> list[RulesetVersion]:
    """Every version of ``name``, oldest first."""
    stmt = select(RulesetVersion).where(RulesetVersion.ruleset_name == name).order_by(RulesetVersion.version)
    return list(session.scalars(stmt))


def get_version(session: Session, name: str, version: int) -> RulesetVersion:
    row = session.scalars(
        select(RulesetVersion).where(RulesetVersion.ruleset_name == name, RulesetVersion.version == version)
    ).one_or_none()
    if row is None:
        raise VersionNotFound(f"ruleset {name!r} has no version {version}")
    return row


__all__ = ["VersionNotFound", "add_version", "get_version", "latest_version", "list_versions"]
