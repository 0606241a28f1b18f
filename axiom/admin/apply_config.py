"""Configuration as code: read a YAML file, apply it to the database by name, dump it back.

``apply_config`` is idempotent: applying the same file twice changes nothing the second time, and
moves ``config_state.version`` (which makes workers reload) only when something did change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from axiom.admin.config_file import ConfigFileError as ConfigFileError
from axiom.admin.config_file import load_config_file as load_config_file
from axiom.admin.config_file import parse_config as parse_config
from axiom.admin.ruleset_versions import changed_fields, content_hash, record_change
from axiom.db.models import CONFIG_STATE_ID, ConfigState, PeerRow, RulesetRow, SourceRow, StorageBackend
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import crosswalks as crosswalks_repo
from axiom.db.repositories import peers as peers_repo
from axiom.db.repositories import sources as sources_repo
from axiom.domain.config_file import ConfigFile
from axiom.domain.crosswalks import CrosswalkConfig
from axiom.domain.destinations import DestinationConfig
from axiom.domain.peers import PeerConfig
from axiom.domain.sources import SourceConfig
from rules.model import Ruleset

# ---------------------------------------------------------------- applying


@dataclass
class KindResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self, kind: str) -> str:
        parts = [
            f"{len(self.created)} created",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
        ]
        names = [f"+{n}" for n in self.created] + [f"~{n}" for n in self.updated]
        return f"{kind}: {', '.join(parts)}" + (f" ({' '.join(names)})" if names else "")


@dataclass
class ApplyResult:
    destinations: KindResult
    rulesets: KindResult
    version: int  # config_state.version after the apply
    crosswalks: KindResult = field(default_factory=KindResult)
    sources: KindResult = field(default_factory=KindResult)
    peers: KindResult = field(default_factory=KindResult)

    @property
    def changed(self) -> bool:
        return (
            self.destinations.changed
            or self.rulesets.changed
            or self.crosswalks.changed
            or self.sources.changed
            or self.peers.changed
        )

    def __str__(self) -> str:
        # Files without crosswalks or sources keep the summary they always had.
        extra = "".join(
            f"{result.summary(kind)}; "
            for kind, result in (
                ("crosswalks", self.crosswalks),
                ("sources", self.sources),
                ("peers", self.peers),
            )
            if result.created or result.updated or result.unchanged
        )
        return (
            f"{self.destinations.summary('destinations')}; {self.rulesets.summary('rulesets')}; "
            f"{extra}config version {self.version}"
        )


def apply_config(
    session: Session,
    config: ConfigFile,
    *,
    actor: str,
    source: str | None = None,
    correlation_id: str | None = None,
) -> ApplyResult:
    """Create or update every destination, ruleset and crosswalk of ``config`` by name; others are
    left alone.

    An updated ruleset's rules are replaced by the file's, and every created or changed ruleset
    gets a new version (``axiom.admin.ruleset_versions``). A crosswalk's entries are not read
    here: the sync service fills them. All of it happens in one savepoint: on any
    error nothing is changed and the error propagates (ConfigFileError for a rule naming an unknown
    destination, naming ``source`` or else the file the config was read from). The caller commits.
    """
    with session.begin_nested():
        # Serialises concurrent applies on PostgreSQL (SQLite already runs one writer at a time), so
        # the created/updated/unchanged verdicts hold until commit.
        session.execute(select(ConfigState.id).where(ConfigState.id == CONFIG_STATE_ID).with_for_update())
        known = session.scalars(select(StorageBackend.name)).all()
        problems = config.undefined_destinations(known)
        if problems:
            raise ConfigFileError(source or config.source, problems)

        audit = _Auditor(session, actor=actor, correlation_id=correlation_id)
        destinations = _apply_typed(
            session,
            config.destinations,
            audit,
            "destination",
            StorageBackend,
            config_repo.destination_row_values,
            config_repo.destination_from_row,
        )
        rulesets = _apply_rulesets(session, config.rulesets, audit)
        crosswalks = _apply_crosswalks(session, config.crosswalks, audit)
        sources = _apply_typed(
            session,
            config.sources,
            audit,
            "source",
            SourceRow,
            sources_repo.source_row_values,
            sources_repo.source_from_row,
        )
        peers = _apply_typed(
            session,
            config.peers,
            audit,
            "peer",
            PeerRow,
            peers_repo.peer_row_values,
            peers_repo.peer_from_row,
        )
        if sources.changed:
            # Beat reloads its schedule only when this marker moves.
            sources_repo.bump_schedule_version(session)
        if destinations.changed or rulesets.changed or crosswalks.changed or sources.changed or peers.changed:
            version = config_repo.bump_config_version(session)
        else:
            version = config_repo.config_version(session)
    return ApplyResult(
        destinations=destinations,
        rulesets=rulesets,
        version=version,
        crosswalks=crosswalks,
        sources=sources,
        peers=peers,
    )


@dataclass
class _Auditor:
    session: Session
    actor: str
    correlation_id: str | None

    def record(self, action: str, target: str, new: dict[str, Any], changed: list[str], **extra: Any) -> None:
        # Field names and a digest only: rule values may name patients, and the audit log is read widely.
        audit_repo.add_audit(
            self.session,
            actor=self.actor,
            action=action,
            target=target,
            details={"changed": changed, "sha256": content_hash(new), **extra},
            correlation_id=self.correlation_id,
        )


def _stored(load: Callable[[Any], BaseModel], row: object) -> dict[str, Any] | None:
    """The canonical form of what a row holds; None when it no longer validates (it gets replaced)."""
    try:
        return config_repo.dump_model(load(row))
    except ValidationError:
        return None


def _apply_typed(
    session: Session,
    items: Sequence[DestinationConfig] | Sequence[SourceConfig] | Sequence[PeerConfig],
    audit: _Auditor,
    label: str,
    row_class: type[StorageBackend] | type[SourceRow] | type[PeerRow],
    row_values: Callable[[Any], dict[str, Any]],
    from_row: Callable[[Any], Any],
) -> KindResult:
    """Destinations, sources and peers: rows of name, type, enabled and a JSON config, changed in place."""
    result = KindResult()
    names = [item.name for item in items]
    found: Sequence[StorageBackend | SourceRow | PeerRow] = list(
        session.scalars(select(row_class).where(row_class.name.in_(names)))
    )
    rows = {row.name: row for row in found}
    for item in items:
        new = config_repo.dump_model(item)
        values = row_values(item)
        row = rows.get(item.name)
        if row is None:
            session.add(row_class(**values))
            result.created.append(item.name)
            audit.record(f"{label}.created", item.name, new, changed_fields(None, new), type=item.type)
            continue
        old = _stored(from_row, row)
        if old == new:
            result.unchanged.append(item.name)
            continue
        for key, value in values.items():
            setattr(row, key, value)
        result.updated.append(item.name)
        audit.record(f"{label}.updated", item.name, new, changed_fields(old, new), type=item.type)
    return result


def _apply_rulesets(session: Session, items: list[Ruleset], audit: _Auditor) -> KindResult:
    result = KindResult()
    names = [item.name for item in items]
    rows = {
        row.name: row
        for row in session.scalars(
            select(RulesetRow).options(selectinload(RulesetRow.rules)).where(RulesetRow.name.in_(names))
        )
    }
    for item in items:
        new = config_repo.dump_model(item)
        rule_names = [rule.name for rule in item.rules]
        row = rows.get(item.name)
        if row is None:
            config_repo.write_ruleset(session, None, item)
            result.created.append(item.name)
            audit.record("ruleset.created", item.name, new, changed_fields(None, new), rules=rule_names)
            record_change(session, item, actor=audit.actor, action="created")
            continue
        old = _stored(config_repo.ruleset_from_row, row)
        if old == new:
            result.unchanged.append(item.name)
            continue
        config_repo.write_ruleset(session, row, item)
        result.updated.append(item.name)
        audit.record("ruleset.updated", item.name, new, changed_fields(old, new), rules=rule_names)
        record_change(session, item, actor=audit.actor, action="updated", previous=old)
    return result


def _apply_crosswalks(session: Session, items: list[CrosswalkConfig], audit: _Auditor) -> KindResult:
    result = KindResult()
    rows = crosswalks_repo.get_crosswalk_rows(session, [item.name for item in items])
    for item in items:
        new = config_repo.dump_model(item)
        row = rows.get(item.name)
        # Source kind and field names only in the audit row: a SQL URL may carry a password.
        kind = "csv" if "csv" in new["source"] else "sql"
        if row is None:
            crosswalks_repo.add_crosswalk(session, item)
            result.created.append(item.name)
            audit.record("crosswalk.created", item.name, new, changed_fields(None, new), source=kind)
            continue
        old = crosswalks_repo.crosswalk_config_values(row)
        if old == new:
            result.unchanged.append(item.name)
            continue
        crosswalks_repo.update_crosswalk(row, item)
        result.updated.append(item.name)
        audit.record("crosswalk.updated", item.name, new, changed_fields(old, new), source=kind)
    return result


__all__ = [
    "ApplyResult",
    "ConfigFileError",
    "KindResult",
    "apply_config",
    "load_config_file",
    "parse_config",
]
