"""Sources in the configuration file: validated like destinations, applied by name, audited, and the
"schedule changed" marker moves only when a source changed."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from axiom.admin import config_edit
from axiom.admin.apply_config import ConfigFileError, apply_config, parse_config
from axiom.admin.config_dump import dump_sources
from axiom.db.models import AuditLog
from axiom.db.repositories import sources as sources_repo

WEB: dict[str, Any] = {
    "name": "web-pacs",
    "type": "dicomweb",
    "url": "http://127.0.0.1:8042/dicom-web",
    "username": "axiom",
    "password_env": "PACS_PASSWORD",
    "schedule": {"every_minutes": 5},
    "query": {"modalities": ["CT", "MR"], "study_date_window_days": 3, "accession_pattern": "ACC*"},
}
DIMSE: dict[str, Any] = {
    "name": "old-pacs",
    "type": "dimse",
    "host": "10.0.0.5",
    "port": 104,
    "ae_title": "PACS",
    "retrieve": "get",
    "schedule": {"cron": "*/10 * * * *"},
}
GCP: dict[str, Any] = {
    "name": "gcp-store",
    "type": "healthcare",
    "project": "p",
    "location": "europe-west4",
    "dataset": "d",
    "dicom_store": "s",
    "schedule": {"every_seconds": 30},
    "enabled": False,
}


def _apply(session: Session, *sources: dict[str, Any]) -> Any:
    result = apply_config(session, parse_config({"sources": list(sources)}), actor="test")
    session.commit()
    return result


def test_apply_creates_updates_and_leaves_sources_alone(session: Session) -> None:
    result = _apply(session, WEB, DIMSE, GCP)
    assert result.sources.created == ["web-pacs", "old-pacs", "gcp-store"]
    assert "sources: 3 created" in str(result)
    assert sources_repo.schedule_version(session) == 1

    again = _apply(session, WEB, DIMSE, GCP)
    assert again.sources.unchanged == ["web-pacs", "old-pacs", "gcp-store"] and not again.changed
    assert sources_repo.schedule_version(session) == 1  # nothing changed: Beat keeps its schedule

    changed = _apply(session, {**WEB, "schedule": {"every_seconds": 10}})
    assert changed.sources.updated == ["web-pacs"]
    assert sources_repo.schedule_version(session) == 2

    dumped = {item["name"]: item for item in dump_sources(session)}
    assert dumped["web-pacs"]["schedule"] == {"every_seconds": 10.0}
    assert dumped["old-pacs"]["retrieve"] == "get"
    assert dumped["gcp-store"]["enabled"] is False
    actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions.count("source.created") == 3 and actions.count("source.updated") == 1


def test_put_get_delete_through_config_edit(session: Session) -> None:
    change = config_edit.put_source(
        session, "web-pacs", {k: v for k, v in WEB.items() if k != "name"}, actor="t"
    )
    session.commit()
    assert change.created
    assert config_edit.get_source(session, "web-pacs")["url"] == WEB["url"]
    deleted = config_edit.delete_source(session, "web-pacs", actor="t")
    session.commit()
    assert deleted.result == "deleted"
    assert sources_repo.schedule_version(session) == 2
    with pytest.raises(config_edit.ConfigNotFound):
        config_edit.get_source(session, "web-pacs")


@pytest.mark.parametrize(
    ("change", "where", "why"),
    [
        ({"schedule": {}}, "sources[0].schedule", "exactly one"),
        ({"schedule": {"every_seconds": 5, "cron": "* * * * *"}}, "sources[0].schedule", "exactly one"),
        ({"schedule": {"cron": "* * *"}}, "sources[0].schedule.cron", "five fields"),
        ({"password_env": "not a name"}, "sources[0].password_env", "pattern"),
        ({"type": "ftp"}, "sources[0].type", "unknown source type 'ftp'"),
        ({"password": "secret"}, "sources[0].password", "Extra inputs"),
    ],
)
def test_invalid_sources_name_the_field(change: dict[str, Any], where: str, why: str) -> None:
    with pytest.raises(ConfigFileError) as caught:
        parse_config({"sources": [{**WEB, **change}]})
    assert any(w == where and why in reason for w, reason in caught.value.problems), caught.value.problems


def test_duplicate_source_names_are_refused() -> None:
    with pytest.raises(ConfigFileError, match="source name 'web-pacs' is used more than once"):
        parse_config({"sources": [WEB, WEB]})


def test_axiom_get_sources_prints_the_file_format(
    session: Session, migrated_db_url: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from axiom.config import Settings
    from cli.config_cmds import run_get

    _apply(session, WEB)
    assert run_get(Settings(data_dir=tmp_path, database_url=migrated_db_url), "sources", "yaml") == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert parse_config(printed).sources[0].name == "web-pacs"
