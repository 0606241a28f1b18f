"""Ruleset versions: every change stores an immutable snapshot; history, diff and rollback read them.

Writers (``apply_config``, ``rollback``, a future API) call ``record_change`` inside their own
transaction, after locking the config_state row, so version numbers never race. A rollback is itself
a new version, so it can be undone the same way.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.db.models import CONFIG_STATE_ID, ConfigState, RulesetVersion, StorageBackend
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import ruleset_versions as versions_repo
from axiom.db.repositories.ruleset_versions import VersionNotFound
from axiom.domain.config_file import ConfigFile
from rules.model import Ruleset


class RollbackError(ValueError):
    """A version that cannot be restored as it is (e.g. it names a destination that is gone)."""


def content_hash(definition: dict[str, Any]) -> str:
    """sha256 of the canonical JSON; also the digest audit rows carry for the same content."""
    return hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()


def changed_fields(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    if old is None:
        return sorted(new)
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def record_change(
    session: Session,
    ruleset: Ruleset,
    *,
    actor: str,
    action: str,
    previous: dict[str, Any] | None = None,
    restored_from: int | None = None,
) -> RulesetVersion | None:
    """Store ``ruleset`` as its next version; None when it equals the latest version already.

    ``previous`` is what the ruleset held before this change. A ruleset created before versions
    existed has no history yet: its previous content is kept first as a "baseline" version, so the
    change can be rolled back too.
    """
    definition = config_repo.dump_model(ruleset)
    digest = content_hash(definition)
    latest = versions_repo.latest_version(session, ruleset.name)
    if latest is not None and latest.content_hash == digest:
        return None
    if latest is None and previous is not None:
        versions_repo.add_version(
            session,
            name=ruleset.name,
            definition=previous,
            content_hash=content_hash(previous),
            actor=actor,
            action="baseline",
        )
    return versions_repo.add_version(
        session,
        name=ruleset.name,
        definition=definition,
        content_hash=digest,
        actor=actor,
        action=action,
        restored_from=restored_from,
    )


@dataclass(frozen=True)
class VersionInfo:
    version: int
    actor: str
    action: str
    created_at: datetime
    content_hash: str
    restored_from: int | None


def history(session: Session, name: str) -> list[VersionInfo]:
    """Every version of ``name``, oldest first; empty when the ruleset never had one."""
    return [
        VersionInfo(
            version=row.version,
            actor=row.actor,
            action=row.action,
            created_at=row.created_at,
            content_hash=row.content_hash,
            restored_from=row.restored_from,
        )
        for row in versions_repo.list_versions(session, name)
    ]


def as_yaml(definition: dict[str, Any]) -> str:
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)


def diff(session: Session, name: str, old: int, new: int) -> str:
    """A unified diff of the two versions' YAML; empty when they hold the same content."""
    before = versions_repo.get_version(session, name, old)
    after = versions_repo.get_version(session, name, new)
    return "".join(
        difflib.unified_diff(
            as_yaml(before.definition).splitlines(keepends=True),
            as_yaml(after.definition).splitlines(keepends=True),
            fromfile=f"{name}@{old}",
            tofile=f"{name}@{new}",
        )
    )


@dataclass(frozen=True)
class RollbackResult:
    name: str
    restored: int  # the version whose content was restored
    version: int | None  # the new version recording the rollback; None when nothing changed
    config_version: int

    @property
    def changed(self) -> bool:
        return self.version is not None


def rollback(
    session: Session, name: str, to: int, *, actor: str, correlation_id: str | None = None
) -> RollbackResult:
    """Make version ``to`` the current content of ruleset ``name``, as a new version.

    Writes the ruleset (re-creating it if it was deleted), a version row, an audit row, and moves
    config_state.version so workers reload. Nothing is written when the ruleset already holds that
    content. VersionNotFound or RollbackError leave the database as it was. The caller commits.
    """
    with session.begin_nested():
        session.execute(select(ConfigState.id).where(ConfigState.id == CONFIG_STATE_ID).with_for_update())
        target = versions_repo.get_version(session, name, to)
        try:
            ruleset = Ruleset.model_validate(target.definition)
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in err["loc"]) for err in exc.errors()})
            raise RollbackError(
                f"version {to} of ruleset {name!r} no longer validates ({', '.join(fields)})"
            ) from None
        known = session.scalars(select(StorageBackend.name)).all()
        missing = ConfigFile(rulesets=[ruleset]).undefined_destinations(known)
        if missing:
            raise RollbackError(
                f"version {to} of ruleset {name!r} routes to destinations that no longer exist: "
                + "; ".join(why for _, why in missing)
            )

        row = config_repo.get_ruleset_row(session, name)
        previous = config_repo.dump_model(config_repo.ruleset_from_row(row)) if row is not None else None
        definition = config_repo.dump_model(ruleset)
        if previous == definition:
            return RollbackResult(name, to, None, config_repo.config_version(session))

        config_repo.write_ruleset(session, row, ruleset)
        recorded = record_change(
            session, ruleset, actor=actor, action="rollback", previous=previous, restored_from=to
        ) or versions_repo.latest_version(session, name)
        # None only if the latest version already held this content (the row was edited outside
        # Axiom); the row now matches that version again.
        assert recorded is not None
        audit_repo.add_audit(
            session,
            actor=actor,
            action="ruleset.rolled_back",
            target=name,
            details={
                "changed": changed_fields(previous, definition),
                "sha256": recorded.content_hash,
                "restored": to,
                "version": recorded.version,
            },
            correlation_id=correlation_id,
        )
        config_version = config_repo.bump_config_version(session)
    return RollbackResult(name, to, recorded.version, config_version)


__all__ = [
    "RollbackError",
    "RollbackResult",
    "VersionInfo",
    "VersionNotFound",
    "as_yaml",
    "changed_fields",
    "content_hash",
    "diff",
    "history",
    "record_change",
    "rollback",
]
