"""Configuration as stored: destinations and rulesets, and the version workers cache them by.

Rows hold the JSON form of the pydantic models, split so that names, flags and ordering are real
columns; ``*_from_row`` and ``*_row_values`` are the two directions of that mapping.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from axiom.db.base import utcnow
from axiom.db.models import CONFIG_STATE_ID, ConfigState, RuleRow, RulesetRow, StorageBackend
from axiom.domain.destinations import DestinationConfig
from axiom.plugins import validation_context
from rules.model import Ruleset

DESTINATION_ADAPTER: TypeAdapter[DestinationConfig] = TypeAdapter(DestinationConfig)
# Columns of their own; the rest of each model goes to the JSON column.
# Columns of their own in the rows of typed configurations (destinations, sources); the rest of the
# configuration goes in the row's JSON ``config``.
TYPED_COLUMNS = frozenset({"name", "type", "enabled"})
_RULE_COLUMNS = frozenset({"name", "enabled"})


def dump_model(model: Any) -> dict[str, Any]:
    """The canonical JSON form stored and compared (as the rules package round-trips it)."""
    data: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def typed_row_data(row: Any) -> dict[str, Any]:
    """A typed configuration's fields, from its row (columns plus the JSON ``config``)."""
    return {**row.config, "name": row.name, "type": row.type, "enabled": row.enabled}


def typed_row_values(config: Any) -> dict[str, Any]:
    """The row values of a typed configuration (destination or source)."""
    data = dump_model(config)
    return {
        "name": config.name,
        "type": config.type,
        "enabled": config.enabled,
        "config": {k: v for k, v in data.items() if k not in TYPED_COLUMNS},
    }


def destination_from_row(row: StorageBackend) -> DestinationConfig:
    return DESTINATION_ADAPTER.validate_python(typed_row_data(row), context=validation_context())


def destination_row_values(config: DestinationConfig) -> dict[str, Any]:
    return typed_row_values(config)


def ruleset_from_row(row: RulesetRow) -> Ruleset:
    return Ruleset.model_validate(
        {
            "name": row.name,
            "description": row.description,
            "priority": row.priority,
            "enabled": row.enabled,
            "mode": row.mode,
            **(row.options or {}),
            "rules": [{**rule.definition, "name": rule.name, "enabled": rule.enabled} for rule in row.rules],
        }
    )


# Ruleset fields stored in columns (or as rule rows); every other field goes in ``options``.
_RULESET_COLUMNS = frozenset({"name", "description", "priority", "enabled", "mode", "rules"})


def ruleset_row_values(ruleset: Ruleset) -> dict[str, Any]:
    return {
        "name": ruleset.name,
        "description": ruleset.description,
        "priority": ruleset.priority,
        "enabled": ruleset.enabled,
        "mode": ruleset.mode,
        # Only what differs from the defaults, so rulesets stored before a new option existed compare equal.
        "options": {
            k: v
            for k, v in ruleset.model_dump(
                mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
            ).items()
            if k not in _RULESET_COLUMNS
        },
    }


def rule_rows(ruleset: Ruleset) -> list[RuleRow]:
    return [
        RuleRow(
            name=rule.name,
            enabled=rule.enabled,
            position=position,
            definition={k: v for k, v in dump_model(rule).items() if k not in _RULE_COLUMNS},
        )
        for position, rule in enumerate(ruleset.rules)
    ]


def write_ruleset(session: Session, row: RulesetRow | None, ruleset: Ruleset) -> RulesetRow:
    """Create the ruleset's row (``row`` None), or replace an existing row's fields and rules."""
    if row is None:
        row = RulesetRow(**ruleset_row_values(ruleset))
        row.rules = rule_rows(ruleset)
        session.add(row)
        return row
    for key, value in ruleset_row_values(ruleset).items():
        setattr(row, key, value)
    # Flush the deletes before the inserts: a kept rule name would otherwise clash with
    # unique(ruleset_id, name) while its old row still exists.
    row.rules.clear()
    session.flush()
    row.rules.extend(rule_rows(ruleset))
    return row


def get_ruleset_row(session: Session, name: str) -> RulesetRow | None:
    return session.scalars(
        select(RulesetRow).options(selectinload(RulesetRow.rules)).where(RulesetRow.name == name)
    ).one_or_none()


def _rulesets_query(*, enabled_only: bool) -> Any:
    # Evaluation order (rules.model: lower priority first, ties by name), rules loaded in one query.
    stmt = (
        select(RulesetRow)
        .options(selectinload(RulesetRow.rules))
        .order_by(RulesetRow.priority, RulesetRow.name)
    )
    return stmt.where(RulesetRow.enabled.is_(True)) if enabled_only else stmt


def load_rulesets(session: Session, *, enabled_only: bool = False) -> list[Ruleset]:
    return [ruleset_from_row(row) for row in session.scalars(_rulesets_query(enabled_only=enabled_only))]


def load_active_rulesets(session: Session) -> list[Ruleset]:
    """Enabled rulesets in evaluation order, each with all its rules (a rule carries its own flag)."""
    return load_rulesets(session, enabled_only=True)


def load_destination_configs(session: Session) -> dict[str, DestinationConfig]:
    """Every destination by name, disabled ones included (their config says so)."""
    rows = session.scalars(select(StorageBackend).order_by(StorageBackend.name))
    return {row.name: destination_from_row(row) for row in rows}


def config_version(session: Session) -> int:
    version = session.scalar(select(ConfigState.version).where(ConfigState.id == CONFIG_STATE_ID))
    return int(version or 0)


def bump_config_version(session: Session) -> int:
    """Move the version on (workers then reload); returns the new version."""
    result = session.execute(
        update(ConfigState)
        .where(ConfigState.id == CONFIG_STATE_ID)
        .values(version=ConfigState.version + 1, updated_at=utcnow())
        .returning(ConfigState.version)
    )
    version = result.scalar_one_or_none()
    if version is None:
        # The migration seeds the row; this covers a database whose row was deleted by hand.
        session.add(ConfigState(id=CONFIG_STATE_ID, version=1))
        session.flush()
        return 1
    return int(version)


def is_unconfigured(session: Session) -> bool:
    """True while there is no destination and no ruleset: a fresh installation."""
    return (
        session.scalar(select(StorageBackend.id).limit(1)) is None
        and session.scalar(select(RulesetRow.id).limit(1)) is None
    )


__all__ = [
    "DESTINATION_ADAPTER",
    "bump_config_version",
    "config_version",
    "destination_from_row",
    "destination_row_values",
    "dump_model",
    "get_ruleset_row",
    "is_unconfigured",
    "load_active_rulesets",
    "load_destination_configs",
    "load_rulesets",
    "rule_rows",
    "ruleset_from_row",
    "ruleset_row_values",
    "write_ruleset",
]
