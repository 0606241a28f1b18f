"""Ruleset versions: written on every change through apply, nothing on an unchanged apply; diff and
rollback (itself a new version, bumping the config version, audited)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import ApplyResult, apply_config, parse_config
from axiom.admin.config_dump import dump_rulesets
from axiom.admin.ruleset_versions import (
    RollbackError,
    VersionNotFound,
    content_hash,
    diff,
    history,
    rollback,
)
from axiom.db.models import AuditLog, RulesetVersion, StorageBackend
from axiom.db.repositories.config import config_version, dump_model, load_rulesets

DESTINATIONS = [
    {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 4242, "ae_title": "ORTHANC"},
    {"name": "archive", "type": "filesystem"},
]
V1 = {
    "name": "clinical",
    "rules": [{"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["pacs"]}],
}
V2 = {
    "name": "clinical",
    "priority": 5,
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["pacs", "archive"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}


def _apply(sessions: sessionmaker[Session], *rulesets: dict[str, Any], actor: str = "alice") -> ApplyResult:
    config = parse_config({"destinations": DESTINATIONS, "rulesets": list(rulesets)})
    with sessions() as session:
        result = apply_config(session, config, actor=actor)
        session.commit()
        return result


def _versions(session: Session, name: str = "clinical") -> list[RulesetVersion]:
    stmt = select(RulesetVersion).where(RulesetVersion.ruleset_name == name).order_by(RulesetVersion.version)
    return list(session.scalars(stmt))


def _current(session: Session, name: str = "clinical") -> dict[str, Any]:
    (ruleset,) = [r for r in load_rulesets(session) if r.name == name]
    return dump_model(ruleset)


def test_new_ruleset_stores_version_one_with_actor_and_hash(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    with sessions() as session:
        (version,) = _versions(session)
        current = _current(session)
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "ruleset.created")).one()
    assert (version.version, version.actor, version.action) == (1, "alice", "created")
    assert version.definition == current
    assert version.content_hash == content_hash(current) == audit.details["sha256"]  # type: ignore[index]
    assert version.created_at is not None


def test_unchanged_apply_stores_nothing_and_a_change_stores_the_next(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    _apply(sessions, V1, actor="bob")
    with sessions() as session:
        assert [v.version for v in _versions(session)] == [1]

    _apply(sessions, V2, actor="bob")
    with sessions() as session:
        versions = _versions(session)
        assert [(v.version, v.actor, v.action) for v in versions] == [
            (1, "alice", "created"),
            (2, "bob", "updated"),
        ]
        assert versions[1].definition == _current(session)
        assert versions[0].content_hash != versions[1].content_hash


def test_history_lists_versions_oldest_first(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    _apply(sessions, V2, actor="bob")
    with sessions() as session:
        entries = history(session, "clinical")
        assert history(session, "nothing-here") == []
    assert [(e.version, e.actor) for e in entries] == [(1, "alice"), (2, "bob")]
    assert all(len(e.content_hash) == 64 for e in entries)


def test_diff_is_a_unified_diff_of_the_yaml(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    _apply(sessions, V2)
    with sessions() as session:
        text = diff(session, "clinical", 1, 2)
        assert diff(session, "clinical", 2, 2) == ""
        with pytest.raises(VersionNotFound):
            diff(session, "clinical", 1, 9)
    lines = text.splitlines()
    assert lines[:2] == ["--- clinical@1", "+++ clinical@2"]
    assert "-priority: 100" in lines and "+priority: 5" in lines
    assert "+- name: mr" in lines


def test_rollback_restores_exactly_as_a_new_version(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    with sessions() as session:
        original = _current(session)
    _apply(sessions, V2)
    with sessions() as session:
        before = config_version(session)

    with sessions() as session:
        result = rollback(session, "clinical", 1, actor="carol", correlation_id="req-9")
        session.commit()

    assert result.changed and (result.restored, result.version) == (1, 3)
    assert result.config_version == before + 1
    with sessions() as session:
        assert _current(session) == original
        assert config_version(session) == before + 1
        latest = _versions(session)[-1]
        assert (latest.version, latest.actor, latest.action, latest.restored_from) == (
            3,
            "carol",
            "rollback",
            1,
        )
        assert latest.content_hash == _versions(session)[0].content_hash
        audit = session.scalars(select(AuditLog).where(AuditLog.correlation_id == "req-9")).one()
        assert (audit.actor, audit.action, audit.target) == ("carol", "ruleset.rolled_back", "clinical")
        assert audit.details == {
            "changed": ["priority", "rules"],
            "sha256": latest.content_hash,
            "restored": 1,
            "version": 3,
        }

    # The rollback is itself undoable: back to version 2.
    with sessions() as session:
        rollback(session, "clinical", 2, actor="carol")
        session.commit()
        assert _current(session) == _versions(session)[1].definition
        assert [v.version for v in _versions(session)] == [1, 2, 3, 4]


def test_rollback_to_the_current_content_changes_nothing(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    with sessions() as session:
        before = (config_version(session), session.scalar(select(func.count()).select_from(AuditLog)))
        result = rollback(session, "clinical", 1, actor="carol")
        session.commit()
        after = (config_version(session), session.scalar(select(func.count()).select_from(AuditLog)))
    assert not result.changed and after == before
    with sessions() as session:
        assert len(_versions(session)) == 1


def test_rollback_refuses_a_version_whose_destination_is_gone(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, V1)
    _apply(sessions, {**V1, "rules": [{"name": "all", "destinations": ["archive"]}]})
    with sessions() as session:
        # A manual removal of the destination the old version routes to.
        session.delete(session.scalars(select(StorageBackend).where(StorageBackend.name == "pacs")).one())
        session.commit()
        before = dump_rulesets(session)
        with pytest.raises(RollbackError, match="'pacs'"):
            rollback(session, "clinical", 1, actor="carol")
        session.rollback()
        assert dump_rulesets(session) == before
        assert len(_versions(session)) == 2
        with pytest.raises(VersionNotFound):
            rollback(session, "clinical", 7, actor="carol")


def test_first_change_of_a_ruleset_without_history_keeps_a_baseline(sessions: sessionmaker[Session]) -> None:
    # A ruleset stored before versions existed: its rows are there but no version is.
    _apply(sessions, V1)
    with sessions() as session:
        original = _current(session)
        session.execute(RulesetVersion.__table__.delete())
        session.commit()

    _apply(sessions, V2, actor="bob")

    with sessions() as session:
        versions = _versions(session)
        assert [(v.version, v.action) for v in versions] == [(1, "baseline"), (2, "updated")]
        assert versions[0].definition == original
