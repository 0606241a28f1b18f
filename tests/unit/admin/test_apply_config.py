"""``axiom apply``: idempotent, all-or-nothing, audited, and reversible with ``axiom get``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import (
    ApplyResult,
    ConfigFileError,
    apply_config,
    load_config_file,
    parse_config,
)
from axiom.admin.config_dump import dump_destinations, dump_rulesets
from axiom.db.models import AuditLog, RuleRow, RulesetRow, StorageBackend
from axiom.db.repositories.config import config_version, load_active_rulesets
from axiom.domain.config_file import ConfigFile

EXAMPLE = Path(__file__).resolve().parents[3] / "rules" / "examples" / "routing-example.yaml"


def _apply(sessions: sessionmaker[Session], config: ConfigFile, **kwargs: Any) -> ApplyResult:
    with sessions() as session:
        result = apply_config(session, config, actor="test", **kwargs)
        session.commit()
        return result


def _snapshot(session: Session) -> dict[str, Any]:
    """Everything apply may touch, for before/after comparisons."""
    return {
        "destinations": dump_destinations(session),
        "rulesets": dump_rulesets(session),
        "version": config_version(session),
        "audit": session.scalar(select(func.count()).select_from(AuditLog)),
        "rules": session.scalar(select(func.count()).select_from(RuleRow)),
    }


def _config(*rulesets: dict[str, Any], destinations: list[dict[str, Any]] | None = None) -> ConfigFile:
    if destinations is None:
        destinations = [
            {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 4242, "ae_title": "ORTHANC"},
            {"name": "archive", "type": "filesystem"},
        ]
    return parse_config({"destinations": destinations, "rulesets": list(rulesets)})


def test_second_apply_changes_nothing(sessions: sessionmaker[Session]) -> None:
    config = load_config_file(EXAMPLE)

    first = _apply(sessions, config)
    assert sorted(first.destinations.created) == ["archive", "pacs"]
    assert sorted(first.rulesets.created) == ["clinical", "fallback"]
    assert first.version == 1 and first.changed

    with sessions() as session:
        before = _snapshot(session)
    second = _apply(sessions, config)
    with sessions() as session:
        after = _snapshot(session)

    assert not second.changed
    assert sorted(second.destinations.unchanged) == ["archive", "pacs"]
    assert sorted(second.rulesets.unchanged) == ["clinical", "fallback"]
    assert second.version == 1
    assert after == before
    assert "0 created, 0 updated, 2 unchanged" in str(second)


def test_applied_config_is_what_workers_load(sessions: sessionmaker[Session]) -> None:
    config = load_config_file(EXAMPLE)
    _apply(sessions, config)
    with sessions() as session:
        loaded = load_active_rulesets(session)
    expected = sorted((r for r in config.rulesets if r.enabled), key=lambda r: (r.priority, r.name))
    assert loaded == expected


def test_get_output_applies_back_unchanged(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, load_config_file(EXAMPLE))
    with sessions() as session:
        dumped = {"destinations": dump_destinations(session), "rulesets": dump_rulesets(session)}

    result = _apply(sessions, parse_config(dumped))

    assert not result.changed
    assert len(result.destinations.unchanged) == 2 and len(result.rulesets.unchanged) == 2


def test_updating_a_ruleset_replaces_its_rules(sessions: sessionmaker[Session]) -> None:
    other = {"name": "other", "rules": [{"name": "keep", "destinations": ["archive"]}]}
    original = {
        "name": "clinical",
        "rules": [
            {"name": "a", "destinations": ["pacs"]},
            {"name": "b", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["pacs"]},
            {"name": "c", "destinations": ["archive"]},
        ],
    }
    _apply(sessions, _config(original, other))

    changed = {
        "name": "clinical",
        "priority": 5,
        "rules": [
            {"name": "c", "destinations": ["pacs", "archive"]},
            {"name": "d", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
        ],
    }
    result = _apply(sessions, _config(changed, other), correlation_id="req-1")

    assert result.rulesets.updated == ["clinical"] and result.rulesets.unchanged == ["other"]
    assert result.destinations.unchanged == ["pacs", "archive"]
    assert result.version == 2
    with sessions() as session:
        clinical = session.scalars(select(RulesetRow).where(RulesetRow.name == "clinical")).one()
        assert clinical.priority == 5
        assert [(r.name, r.position) for r in clinical.rules] == [("c", 0), ("d", 1)]
        assert clinical.rules[0].definition["destinations"] == ["pacs", "archive"]
        assert session.scalar(select(func.count()).select_from(RuleRow)) == 3  # c, d and other/keep
        audit = session.scalars(select(AuditLog).where(AuditLog.correlation_id == "req-1")).one()
        assert (audit.actor, audit.action, audit.target) == ("test", "ruleset.updated", "clinical")
        assert audit.details is not None and audit.details["changed"] == ["priority", "rules"]
        assert audit.details["rules"] == ["c", "d"]


def test_updating_a_destination_keeps_the_others(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _config())
    moved = [{"name": "pacs", "type": "cstore", "host": "10.1.1.1", "port": 104, "ae_title": "ORTHANC"}]

    result = _apply(sessions, _config(destinations=moved))

    assert (result.destinations.updated, result.version) == (["pacs"], 2)
    with sessions() as session:
        by_name = {d["name"]: d for d in dump_destinations(session)}
        assert sorted(by_name) == ["archive", "pacs"]  # apply never deletes
        assert (by_name["pacs"]["host"], by_name["pacs"]["port"]) == ("10.1.1.1", 104)
        audit = session.scalars(select(AuditLog).where(AuditLog.action == "destination.updated")).one()
        assert audit.details is not None and audit.details["changed"] == ["host", "port"]


def test_rules_may_name_destinations_already_in_the_database(sessions: sessionmaker[Session]) -> None:
    _apply(sessions, _config())
    only_rules = _config(
        {"name": "later", "rules": [{"name": "r", "destinations": ["pacs"]}]}, destinations=[]
    )
    assert _apply(sessions, only_rules).rulesets.created == ["later"]


def test_unknown_destination_fails_naming_file_and_field_and_changes_nothing(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, _config({"name": "clinical", "rules": [{"name": "a", "destinations": ["pacs"]}]}))
    with sessions() as session:
        before = _snapshot(session)
    path = tmp_path / "bad.yaml"
    path.write_text(
        "destinations:\n"
        "  - {name: pacs, type: cstore, host: 10.9.9.9, port: 104, ae_title: NEW}\n"
        "rulesets:\n"
        "  - name: clinical\n"
        "    rules:\n"
        "      - {name: a, destinations: [pacs]}\n"
        "      - {name: b, destinations: [pacs, nowhere]}\n"
    )

    with sessions() as session, pytest.raises(ConfigFileError) as caught:
        apply_config(session, load_config_file(path), actor="test")

    assert str(caught.value) == (
        f"{path}: rulesets[0].rules[1].destinations[1]: destination 'nowhere' is defined neither in "
        "this file nor in the database"
    )
    with sessions() as session:
        assert _snapshot(session) == before


def test_a_database_error_midway_rolls_back_every_change(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    _apply(sessions, _config({"name": "clinical", "rules": [{"name": "a", "destinations": ["pacs"]}]}))
    with sessions() as session:
        before = _snapshot(session)
    moved = [{"name": "pacs", "type": "cstore", "host": "10.1.1.1", "port": 104, "ae_title": "ORTHANC"}]
    config = _config(
        {"name": "clinical", "rules": [{"name": "z", "destinations": ["pacs"]}]},
        {"name": "poison", "rules": []},
        destinations=[*moved, {"name": "new-archive", "type": "filesystem"}],
    )

    with _refuse_ruleset_named(engine, "poison"), sessions() as session:
        with pytest.raises(DBAPIError):
            apply_config(session, config, actor="test")
        # Even a caller that commits after the failure persists nothing of it.
        session.commit()

    with sessions() as session:
        assert _snapshot(session) == before
        assert session.scalar(select(StorageBackend.config).where(StorageBackend.name == "pacs")) == {
            "description": "",
            "host": "127.0.0.1",
            "port": 4242,
            "ae_title": "ORTHANC",
            "calling_ae_title": "AXIOM",
            "timeout_seconds": 30.0,
            "association_close_delay_seconds": 1.0,
        }


@contextmanager
def _refuse_ruleset_named(engine: Engine, name: str) -> Iterator[None]:
    """A real trigger that makes the database refuse one ruleset row: a failure after other writes."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_ruleset() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.name = '{name}' THEN RAISE EXCEPTION 'ruleset refused'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_ruleset BEFORE INSERT ON rulesets "
                    "FOR EACH ROW EXECUTE FUNCTION refuse_ruleset()"
                )
            )
        else:
            conn.execute(
                text(
                    f"CREATE TRIGGER refuse_ruleset BEFORE INSERT ON rulesets WHEN NEW.name = '{name}' "
                    "BEGIN SELECT RAISE(ABORT, 'ruleset refused'); END"
                )
            )
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse_ruleset" + (" ON rulesets" if postgres else "")))
            if postgres:
                conn.execute(text("DROP FUNCTION refuse_ruleset()"))


def test_secret_references_round_trip_through_apply_and_get(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXIOM_SECRET_PACS_PASSWORD", "the-real-password")
    destinations = [
        {
            "name": "web",
            "type": "stowrs",
            "url": "https://pacs.example.org/dicom-web",
            "auth": {"type": "basic", "user": "axiom", "password": {"secret": "PACS_PASSWORD"}},
        },
        {"name": "bucket", "type": "gcs", "bucket": "research", "credentials": {"secret": "GCP_KEY"}},
        {
            "name": "gcp",
            "type": "healthcare",
            "project": "p",
            "location": "l",
            "dataset": "d",
            "dicom_store": "s",
            "token": {"secret": "HC_TOKEN"},
        },
    ]
    _apply(sessions, _config(destinations=destinations))
    with sessions() as session:
        dumped = dump_destinations(session)
        stored = [row.config for row in session.scalars(select(StorageBackend))]

    by_name = {d["name"]: d for d in dumped}
    assert by_name["web"]["auth"]["password"] == {"secret": "PACS_PASSWORD"}
    assert by_name["bucket"]["credentials"] == {"secret": "GCP_KEY"}
    assert by_name["gcp"]["token"] == {"secret": "HC_TOKEN"}
    assert "the-real-password" not in repr(dumped) + repr(stored)
    assert not _apply(sessions, _config(destinations=dumped)).changed


def test_a_plain_text_password_is_refused(sessions: sessionmaker[Session]) -> None:
    auth = {"type": "basic", "user": "axiom", "password": "hunter2"}
    with pytest.raises(ConfigFileError) as caught:
        _config(
            destinations=[{"name": "web", "type": "stowrs", "url": "https://pacs/dicom-web", "auth": auth}]
        )
    assert "hunter2" not in str(caught.value)
