"""Stored configuration read back as the pydantic models workers use."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.models import AuditLog, RulesetRow, StorageBackend
from axiom.db.repositories.audit import add_audit
from axiom.db.repositories.config import (
    bump_config_version,
    config_version,
    destination_row_values,
    is_unconfigured,
    load_active_rulesets,
    load_destination_configs,
    rule_rows,
    ruleset_row_values,
)
from axiom.destinations.cstore import CStoreDestinationConfig
from axiom.destinations.filesystem import FilesystemDestinationConfig
from rules.model import Rule, Ruleset, TagCondition


def _store_ruleset(session: Session, ruleset: Ruleset) -> None:
    row = RulesetRow(**ruleset_row_values(ruleset))
    row.rules = rule_rows(ruleset)
    session.add(row)


def _ruleset(name: str, priority: int, *, enabled: bool = True) -> Ruleset:
    return Ruleset(
        name=name,
        priority=priority,
        enabled=enabled,
        mode="first_match",
        rules=[
            Rule(name="z-ct", when=TagCondition(tag="Modality", equals="CT"), destinations=["pacs"]),
            Rule(name="a-rest", destinations=["archive"], enabled=False),
        ],
    )


def test_rulesets_come_back_in_evaluation_order_with_their_rules(sessions: sessionmaker[Session]) -> None:
    stored = [_ruleset("late", 50), _ruleset("off", 1, enabled=False), _ruleset("b", 10), _ruleset("a", 10)]
    with sessions() as session:
        for ruleset in stored:
            _store_ruleset(session, ruleset)
        session.commit()

    with sessions() as session:
        loaded = load_active_rulesets(session)

    assert [r.name for r in loaded] == ["a", "b", "late"]
    # Rules keep their file order (not name order) and their own enabled flag.
    assert loaded[0] == _ruleset("a", 10)
    assert [(rule.name, rule.enabled) for rule in loaded[0].rules] == [("z-ct", True), ("a-rest", False)]


def test_destination_configs_by_name(sessions: sessionmaker[Session]) -> None:
    pacs = CStoreDestinationConfig(name="pacs", host="10.0.0.5", port=104, ae_title="PACS", enabled=False)
    archive = FilesystemDestinationConfig(name="archive", root="/data/archive")
    with sessions() as session:
        session.add_all([StorageBackend(**destination_row_values(c)) for c in (pacs, archive)])
        session.commit()
    with sessions() as session:
        row = session.scalars(select(StorageBackend).where(StorageBackend.name == "pacs")).one()
        # Columns are not repeated inside the JSON.
        assert (row.type, row.enabled) == ("cstore", False)
        assert "name" not in row.config and "type" not in row.config
        assert load_destination_configs(session) == {"archive": archive, "pacs": pacs}


def test_unconfigured_until_a_destination_or_ruleset_exists(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert is_unconfigured(session)
        _store_ruleset(session, _ruleset("only", 1))
        session.flush()
        assert not is_unconfigured(session)
        session.rollback()
        session.add(StorageBackend(**destination_row_values(FilesystemDestinationConfig(name="a"))))
        session.flush()
        assert not is_unconfigured(session)


def test_config_version_moves_by_one(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert config_version(session) == 0
        assert bump_config_version(session) == 1
        assert bump_config_version(session) == 2
        session.commit()
    with sessions() as session:
        assert config_version(session) == 2


def test_audit_rows(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        add_audit(
            session, actor="cli", action="destination.created", target="pacs", details={"changed": ["host"]}
        )
        session.commit()
    with sessions() as session:
        row = session.scalars(select(AuditLog)).one()
        assert (row.actor, row.action, row.target, row.details) == (
            "cli",
            "destination.created",
            "pacs",
            {"changed": ["host"]},
        )
        assert row.at.tzinfo is not None and row.correlation_id is None


def test_schedule_and_stop_after_match_survive_storage(sessions: sessionmaker[Session]) -> None:
    ruleset = Ruleset.model_validate(
        {
            "name": "night",
            "stop_after_match": True,
            "schedule": {
                "timezone": "Europe/Berlin",
                "windows": [{"days": ["mon", "tue"], "start": "22:00", "end": "06:00"}],
            },
            "rules": [{"name": "all", "destinations": ["archive"]}],
        }
    )
    with sessions() as session:
        _store_ruleset(session, ruleset)
        session.commit()

    with sessions() as session:
        (loaded,) = load_active_rulesets(session)

    assert loaded == ruleset
    assert loaded.stop_after_match is True
    assert loaded.schedule is not None
