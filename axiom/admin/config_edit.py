"""Configuration changes one item at a time (the HTTP API's config routes).

Every create or replace goes through ``apply_config`` with a one-item configuration, so it is
validated by the same models, stores a ruleset version, writes an audit row and moves the config
version exactly as ``axiom apply -f`` does. Deletes, which a file cannot express, follow the same
steps: lock config_state, check references, audit, move the version. Errors name the field path in
the request body and the reason, never a value. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.admin.apply_config import ApplyResult, ConfigFileError, KindResult, apply_config, parse_config
from axiom.admin.ruleset_versions import content_hash
from axiom.db.models import CONFIG_STATE_ID, ConfigState, StorageBackend
from axiom.db.repositories import audit as audit_repo
from axiom.db.repositories import config as config_repo
from axiom.db.repositories import crosswalks as crosswalks_repo
from axiom.db.repositories import ruleset_versions as versions_repo
from axiom.db.repositories import sources as sources_repo
from axiom.domain.config_file import ConfigFile
from axiom.domain.masking import MASK, mask_secrets
from rules.model import CrosswalkAction, Ruleset

SOURCE = "request"


class ConfigNotFound(LookupError):
    pass


class ConfigConflict(ValueError):
    """A change other configuration stands in the way of (e.g. deleting a destination in use)."""


@dataclass(frozen=True)
class Change:
    name: str
    result: str  # "created", "updated", "unchanged" or "deleted"
    config_version: int
    version: int | None = None  # the ruleset's latest version, for ruleset changes

    @property
    def created(self) -> bool:
        return self.result == "created"


# ---------------------------------------------------------------- validation


def _relative(prefix: str, where: str) -> str:
    """``rulesets[0].rules[1].when`` -> ``rules[1].when`` for prefix ``rulesets[0]``."""
    if where == prefix:
        return ""
    if where.startswith(prefix + "."):
        return where[len(prefix) + 1 :]
    if where.startswith(prefix + "["):
        return where[len(prefix) :]
    return where


def _reraise_relative(exc: ConfigFileError, prefix: str) -> ConfigFileError:
    return ConfigFileError(SOURCE, [(_relative(prefix, where), why) for where, why in exc.problems])


def _with_name(body: Any, name: str) -> Any:
    """The body with the URL's name; a different name in the body is an error on ``name``."""
    if not isinstance(body, dict):
        return body
    if "name" not in body:
        return {**body, "name": name}
    if body["name"] != name:
        raise ConfigFileError(SOURCE, [("name", "must equal the name in the URL")])
    return body


def _parse(kind: str, item: Any, prefix: str | None = None) -> ConfigFile:
    prefix = prefix or f"{kind}[0]"
    try:
        return parse_config({kind: [item]}, source=SOURCE)
    except ConfigFileError as exc:
        raise _reraise_relative(exc, prefix) from None


def _apply(session: Session, config: ConfigFile, actor: str, prefix: str) -> ApplyResult:
    try:
        return apply_config(session, config, actor=actor, source=SOURCE)
    except ConfigFileError as exc:
        raise _reraise_relative(exc, prefix) from None


def _verdict(kind: KindResult, name: str) -> str:
    if name in kind.created:
        return "created"
    return "updated" if name in kind.updated else "unchanged"


def _lock(session: Session) -> None:
    session.execute(select(ConfigState.id).where(ConfigState.id == CONFIG_STATE_ID).with_for_update())


# ---------------------------------------------------------------- destinations


def put_destination(session: Session, name: str, body: Any, *, actor: str) -> Change:
    config = _parse("destinations", _with_name(body, name))
    result = _apply(session, config, actor, "destinations[0]")
    return Change(name, _verdict(result.destinations, name), result.version)


def get_destination(session: Session, name: str) -> dict[str, Any]:
    row = session.scalars(select(StorageBackend).where(StorageBackend.name == name)).one_or_none()
    if row is None:
        raise ConfigNotFound(f"no destination named {name!r}")
    return config_repo.dump_model(config_repo.destination_from_row(row))


def delete_destination(session: Session, name: str, *, actor: str) -> Change:
    with session.begin_nested():
        _lock(session)
        row = session.scalars(select(StorageBackend).where(StorageBackend.name == name)).one_or_none()
        if row is None:
            raise ConfigNotFound(f"no destination named {name!r}")
        users = [
            f"{ruleset.name}/{rule.name}"
            for ruleset in config_repo.load_rulesets(session)
            for rule in ruleset.rules
            if name in rule.destinations
        ]
        if users:
            raise ConfigConflict(
                f"destination {name!r} is used by the rules {', '.join(users)}; change or delete them first"
            )
        session.delete(row)
        audit_repo.add_audit(
            session, actor=actor, action="destination.deleted", target=name, details={"type": row.type}
        )
        version = config_repo.bump_config_version(session)
    return Change(name, "deleted", version)


# ---------------------------------------------------------------- rulesets and rules


def get_ruleset(session: Session, name: str) -> Ruleset:
    row = config_repo.get_ruleset_row(session, name)
    if row is None:
        raise ConfigNotFound(f"no ruleset named {name!r}")
    return config_repo.ruleset_from_row(row)


def put_ruleset(session: Session, name: str, body: Any, *, actor: str) -> Change:
    config = _parse("rulesets", _with_name(body, name))
    return _apply_ruleset(session, config, name, actor, "rulesets[0]")


def _apply_ruleset(session: Session, config: ConfigFile, name: str, actor: str, prefix: str) -> Change:
    result = _apply(session, config, actor, prefix)
    latest = versions_repo.latest_version(session, name)
    return Change(name, _verdict(result.rulesets, name), result.version, latest.version if latest else None)


def get_rule(session: Session, ruleset: str, rule: str) -> dict[str, Any]:
    for item in get_ruleset(session, ruleset).rules:
        if item.name == rule:
            return config_repo.dump_model(item)
    raise ConfigNotFound(f"ruleset {ruleset!r} has no rule named {rule!r}")


def put_rule(session: Session, ruleset: str, rule: str, body: Any, *, actor: str) -> Change:
    """Replace the rule of that name in the ruleset, or append it; the ruleset is then applied whole."""
    current = config_repo.dump_model(get_ruleset(session, ruleset))
    rules: list[Any] = list(current["rules"])
    names = [item["name"] for item in rules]
    position = names.index(rule) if rule in names else len(rules)
    rules[position : position + 1] = [_with_name(body, rule)]
    config = _parse("rulesets", {**current, "rules": rules}, prefix=f"rulesets[0].rules[{position}]")
    change = _apply_ruleset(session, config, ruleset, actor, f"rulesets[0].rules[{position}]")
    result = "created" if rule not in names else ("unchanged" if change.result == "unchanged" else "updated")
    return Change(rule, result, change.config_version, change.version)


def delete_rule(session: Session, ruleset: str, rule: str, *, actor: str) -> Change:
    current = config_repo.dump_model(get_ruleset(session, ruleset))
    rules = [item for item in current["rules"] if item["name"] != rule]
    if len(rules) == len(current["rules"]):
        raise ConfigNotFound(f"ruleset {ruleset!r} has no rule named {rule!r}")
    config = _parse("rulesets", {**current, "rules": rules})
    change = _apply_ruleset(session, config, ruleset, actor, "rulesets[0]")
    return Change(rule, "deleted", change.config_version, change.version)


def delete_ruleset(session: Session, name: str, *, actor: str) -> Change:
    """Delete the ruleset; its versions stay, so a rollback can re-create it."""
    with session.begin_nested():
        _lock(session)
        row = config_repo.get_ruleset_row(session, name)
        if row is None:
            raise ConfigNotFound(f"no ruleset named {name!r}")
        try:
            definition: dict[str, Any] | None = config_repo.dump_model(config_repo.ruleset_from_row(row))
        except ValidationError:
            definition = None
        latest = versions_repo.latest_version(session, name)
        if latest is None and definition is not None:
            # Stored before versions existed: keep what it held, so the delete can be undone.
            latest = versions_repo.add_version(
                session,
                name=name,
                definition=definition,
                content_hash=content_hash(definition),
                actor=actor,
                action="baseline",
            )
        session.delete(row)
        audit_repo.add_audit(
            session,
            actor=actor,
            action="ruleset.deleted",
            target=name,
            details={
                "rules": [rule.name for rule in row.rules],
                "sha256": content_hash(definition) if definition is not None else None,
                "version": latest.version if latest is not None else None,
            },
        )
        version = config_repo.bump_config_version(session)
    return Change(name, "deleted", version, latest.version if latest is not None else None)


# ---------------------------------------------------------------- crosswalks


def put_crosswalk(session: Session, name: str, body: Any, *, actor: str, base_dir: Path) -> Change:
    """Create or replace a crosswalk; a relative CSV path is taken from ``base_dir``. Its entries
    are read by the next sync (``POST .../sync`` or Beat), as after ``axiom apply``."""
    config = _parse("crosswalks", _with_name(body, name)).with_paths_from(base_dir)
    result = _apply(session, config, actor, "crosswalks[0]")
    return Change(name, _verdict(result.crosswalks, name), result.version)


def crosswalk_status(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    rows = crosswalks_repo.get_crosswalk_rows(session, None if name is None else [name])
    if name is not None and name not in rows:
        raise ConfigNotFound(f"no crosswalk named {name!r}")
    return [
        {
            **crosswalks_repo.crosswalk_config_values(row),
            "rows": row.row_count,
            "generation": row.generation,
            "last_synced_at": row.last_synced_at,
            "last_error": row.last_error,
        }
        for row in rows.values()
    ]


def delete_crosswalk(session: Session, name: str, *, actor: str) -> Change:
    with session.begin_nested():
        _lock(session)
        row = crosswalks_repo.get_crosswalk_rows(session, [name]).get(name)
        if row is None:
            raise ConfigNotFound(f"no crosswalk named {name!r}")
        users = [
            f"{ruleset.name}/{rule.name}"
            for ruleset in config_repo.load_rulesets(session)
            for rule in ruleset.rules
            if any(isinstance(a, CrosswalkAction) and a.crosswalk.table == name for a in rule.actions)
        ]
        if users:
            raise ConfigConflict(
                f"crosswalk {name!r} is used by the rules {', '.join(users)}; change or delete them first"
            )
        session.delete(row)
        audit_repo.add_audit(
            session, actor=actor, action="crosswalk.deleted", target=name, details={"rows": row.row_count}
        )
        version = config_repo.bump_config_version(session)
    return Change(name, "deleted", version)


def record_sync(
    session: Session, name: str, *, actor: str, rows: int, changed: bool, error: str | None
) -> None:
    """The audit row of a sync someone asked for (the sync itself is ``crosswalks.sync_crosswalk``)."""
    audit_repo.add_audit(
        session,
        actor=actor,
        action="crosswalk.synced" if error is None else "crosswalk.sync_failed",
        target=name,
        details={"rows": rows, "changed": changed, **({"error": error} if error else {})},
    )


# ---------------------------------------------------------------- sources


def put_source(session: Session, name: str, body: Any, *, actor: str) -> Change:
    """Create or replace a source; Beat picks the new schedule up without a restart."""
    config = _parse("sources", _with_name(body, name))
    result = _apply(session, config, actor, "sources[0]")
    return Change(name, _verdict(result.sources, name), result.version)


def get_source(session: Session, name: str) -> dict[str, Any]:
    row = sources_repo.get_source_row(session, name)
    if row is None:
        raise ConfigNotFound(f"no source named {name!r}")
    return config_repo.dump_model(sources_repo.source_from_row(row))


def delete_source(session: Session, name: str, *, actor: str) -> Change:
    """Delete the source; its poll state and pulled-instance ledger stay, so re-creating it under
    the same name does not pull everything again."""
    with session.begin_nested():
        _lock(session)
        row = sources_repo.get_source_row(session, name)
        if row is None:
            raise ConfigNotFound(f"no source named {name!r}")
        session.delete(row)
        audit_repo.add_audit(
            session, actor=actor, action="source.deleted", target=name, details={"type": row.type}
        )
        sources_repo.bump_schedule_version(session)
        version = config_repo.bump_config_version(session)
    return Change(name, "deleted", version)


__all__ = [
    "MASK",
    "Change",
    "ConfigConflict",
    "ConfigFileError",
    "ConfigNotFound",
    "crosswalk_status",
    "delete_crosswalk",
    "delete_destination",
    "delete_rule",
    "delete_ruleset",
    "delete_source",
    "get_destination",
    "get_rule",
    "get_ruleset",
    "get_source",
    "mask_secrets",
    "put_crosswalk",
    "put_destination",
    "put_rule",
    "put_ruleset",
    "put_source",
    "record_sync",
]
