"""Header retention and replay through route_instance, a real spool, real filesystem destinations and
real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom.dataset import FileDataset
from pydicom.filereader import read_file_meta_info
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

import workers.runtime
from axiom.admin.apply_config import apply_config, load_config_file
from axiom.admin.replay import (
    ReplayInputError,
    file_candidate,
    parse_since,
    replay,
    stored_candidate,
)
from axiom.config import Settings
from axiom.db.models import DicomInstance, InstanceHeader
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus
from axiom.pipeline.header_retention import dataset_from_header, delete_expired_headers
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from beat.schedule import beat_schedule
from rules.model import Ruleset
from tests.factories import make_dataset, write_instance
from workers.celery_app import create_app
from workers.task_names import TASK_PURGE_HEADERS

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CLINICAL: dict[str, Any] = {
    "name": "clinical",
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["archive"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}
COPIES: dict[str, Any] = {"name": "copies", "rules": [{"name": "all", "destinations": ["copy"]}]}
CT_ELSEWHERE: dict[str, Any] = {
    "name": "clinical",
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["elsewhere"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}


def _runtime(tmp_path: Path, db_url: str, retention: float) -> Runtime:
    settings = Settings(
        data_dir=tmp_path / "data", database_url=db_url, spool_fsync=False, header_retention_days=retention
    )
    settings.ensure_dirs()
    config = {
        "destinations": [{"name": name, "type": "filesystem"} for name in ("archive", "copy", "elsewhere")],
        "rulesets": [CLINICAL, COPIES],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    rt = Runtime(settings)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    return rt


@pytest.fixture
def runtime(engine: Engine, migrated_db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = _runtime(tmp_path, migrated_db_url, retention=7)
    yield rt
    rt.close()


def _route(runtime: Runtime, tmp_path: Path, modality: str, received_at: datetime) -> str:
    """Spool a dataset as the listener would and route it; its SOP Instance UID."""
    ds: FileDataset = make_dataset(modality=modality)
    source = write_instance(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm")
    spool = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False)
    meta = read_file_meta_info(source)
    body_start = 132 + 12 + int(meta.FileMetaInformationGroupLength)
    path = spool.write(meta, source.read_bytes()[body_start:])
    message = dataclasses.replace(message_for_spooled_file(path), received_at=received_at.isoformat())
    outcome = route_instance(runtime, message, now=received_at)
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    return str(ds.SOPInstanceUID)


def _headers(sessions: sessionmaker[Session]) -> list[tuple[str, bytes, datetime]]:
    with sessions() as session:
        rows = session.execute(
            select(DicomInstance.sop_instance_uid, InstanceHeader.encoded, InstanceHeader.received_at)
            .join(DicomInstance, DicomInstance.id == InstanceHeader.instance_id)
            .order_by(InstanceHeader.received_at)
        )
        return [(uid, encoded, at) for uid, encoded, at in rows]


def test_route_instance_keeps_the_header_without_pixel_data(runtime: Runtime, tmp_path: Path) -> None:
    uid = _route(runtime, tmp_path, "CT", NOW - timedelta(hours=1))

    ((stored_uid, encoded, received_at),) = _headers(runtime.sessions)
    assert stored_uid == uid and received_at == NOW - timedelta(hours=1)
    # The received bytes up to Pixel Data: no decoding or JSON on the hot path.
    assert b"\xe0\x7f\x10\x00" not in encoded and len(encoded) < 2048
    ds = dataset_from_header(None, encoded)
    assert ds.SOPInstanceUID == uid and ds.Modality == "CT" and "PixelData" not in ds


def test_a_rereceived_instance_replaces_its_header(runtime: Runtime, tmp_path: Path) -> None:
    ds = make_dataset(modality="MR")
    spool = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False)
    for n, at in enumerate((NOW - timedelta(days=2), NOW - timedelta(days=1))):
        source = write_instance(ds, tmp_path / f"again-{n}.dcm")
        meta = read_file_meta_info(source)
        path = spool.write(meta, source.read_bytes()[132 + 12 + int(meta.FileMetaInformationGroupLength) :])
        route_instance(
            runtime, dataclasses.replace(message_for_spooled_file(path), received_at=at.isoformat())
        )
    assert [(uid, at) for uid, _, at in _headers(runtime.sessions)] == [
        (ds.SOPInstanceUID, NOW - timedelta(days=1))
    ]


def test_no_header_is_kept_when_retention_is_off(
    engine: Engine, migrated_db_url: str, tmp_path: Path
) -> None:
    rt = _runtime(tmp_path, migrated_db_url, retention=0)
    try:
        _route(rt, tmp_path, "CT", NOW)
        with rt.sessions() as session:
            assert session.scalar(select(DicomInstance.sop_instance_uid)) is not None
        assert _headers(rt.sessions) == []
    finally:
        rt.close()


def test_clean_up_deletes_only_headers_past_the_retention(runtime: Runtime, tmp_path: Path) -> None:
    old = _route(runtime, tmp_path, "CT", NOW - timedelta(days=8))
    recent = _route(runtime, tmp_path, "CT", NOW - timedelta(days=6))

    assert delete_expired_headers(runtime.sessions, retention_days=7, now=NOW) == 1
    assert [uid for uid, _, _ in _headers(runtime.sessions)] == [recent]
    with runtime.sessions() as session:  # the instance rows stay
        assert old in session.scalars(select(DicomInstance.sop_instance_uid)).all()
    # Retention 0 (off): whatever was kept goes too.
    assert delete_expired_headers(runtime.sessions, retention_days=0, now=NOW) == 1
    assert _headers(runtime.sessions) == []


def test_beat_task_deletes_expired_headers(
    runtime: Runtime, migrated_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = beat_schedule(Settings(header_cleanup_seconds=42))["header-cleanup"]
    assert (entry["task"], entry["schedule"], entry["options"]["queue"]) == (TASK_PURGE_HEADERS, 42, "low")
    now = datetime.now(UTC)
    _route(runtime, tmp_path, "CT", now - timedelta(days=3))
    recent = _route(runtime, tmp_path, "CT", now - timedelta(hours=1))
    # The worker keeps one Runtime per process; this test's app must not get another test's.
    monkeypatch.setattr(workers.runtime, "_runtimes", {})
    settings = Settings(data_dir=tmp_path / "data", database_url=migrated_db_url, header_retention_days=2)
    app = create_app(settings)
    app.loader.import_default_modules()  # what a starting worker does with TASK_MODULES

    assert app.tasks[TASK_PURGE_HEADERS].apply().get() == 1
    assert [uid for uid, _, _ in _headers(runtime.sessions)] == [recent]


def _routed(runtime: Runtime, tmp_path: Path) -> dict[str, str]:
    """Two CT, one MR in the last day, one CT three days ago: uid -> modality."""
    routed = {_route(runtime, tmp_path, "CT", NOW - timedelta(days=3)): "old CT"}
    for hours, modality in ((20, "CT"), (10, "MR"), (2, "CT")):
        routed[_route(runtime, tmp_path, modality, NOW - timedelta(hours=hours))] = modality
    return routed


def test_replaying_the_current_version_changes_nothing(runtime: Runtime, tmp_path: Path) -> None:
    _routed(runtime, tmp_path)
    with runtime.sessions() as session:
        current = stored_candidate(session, "clinical", 1)

    seen: list[tuple[int, int]] = []
    report = replay(
        runtime.sessions,
        since=NOW - timedelta(days=1),
        candidate=current,
        ruleset_name="clinical",
        now=NOW,
        progress=lambda done, total: seen.append((done, total)),
    )

    assert (report.total, report.same, report.different, report.differences) == (3, 3, 0, [])
    assert seen == [(1, 3), (2, 3), (3, 3)]


def test_a_candidate_routing_ct_elsewhere_reports_each_ct(runtime: Runtime, tmp_path: Path) -> None:
    routed = _routed(runtime, tmp_path)

    report = replay(
        runtime.sessions,
        since=NOW - timedelta(days=1),
        candidate=Ruleset.model_validate(CT_ELSEWHERE),
        ruleset_name="clinical",
        now=NOW,
    )

    assert (report.total, report.same, report.different) == (3, 1, 2)
    cts = [uid for uid, modality in routed.items() if modality == "CT"]
    assert [d.sop_instance_uid for d in report.differences] == cts  # oldest first; not the 3-day-old one
    for d in report.differences:
        # The other active ruleset ("copies") is evaluated as it is.
        assert sorted(d.actual_destinations) == ["archive", "copy"]
        assert sorted(d.candidate_destinations) == ["copy", "elsewhere"]
        assert sorted(d.actual_matched) == sorted(d.candidate_matched) == ["clinical/ct", "copies/all"]
        assert d.candidate_disposition == "route"


def test_a_candidate_without_the_ct_rule_reports_unmatched_ct(runtime: Runtime, tmp_path: Path) -> None:
    _routed(runtime, tmp_path)
    mr_only = {"name": "clinical", "rules": [CT_ELSEWHERE["rules"][1]]}
    report = replay(
        runtime.sessions,
        since=NOW - timedelta(days=4),
        candidate=Ruleset.model_validate(mr_only),
        ruleset_name="clinical",
        now=NOW,
    )
    assert (report.total, report.different) == (4, 3)
    assert {tuple(d.candidate_matched) for d in report.differences} == {("copies/all",)}


def test_candidates_from_a_stored_version_or_a_file(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "candidate.yaml"
    path.write_text(yaml.safe_dump({"rulesets": [CT_ELSEWHERE]}))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump(
            {"rulesets": [{**CT_ELSEWHERE, "rules": [{"name": "x", "destinations": ["nowhere"]}]}]}
        )
    )
    with runtime.sessions() as session:
        assert file_candidate(session, "clinical", path) == Ruleset.model_validate(CT_ELSEWHERE)
        assert stored_candidate(session, "clinical", 1) == Ruleset.model_validate(CLINICAL)
        with pytest.raises(ReplayInputError, match="no version 9"):
            stored_candidate(session, "clinical", 9)
        with pytest.raises(ReplayInputError, match="no ruleset named 'copies'"):
            file_candidate(session, "copies", path)
        with pytest.raises(ReplayInputError, match="'nowhere' is defined neither"):
            file_candidate(session, "clinical", bad)
    with pytest.raises(ReplayInputError, match="not 'copies'"):
        replay(runtime.sessions, since=NOW, candidate=Ruleset.model_validate(CLINICAL), ruleset_name="copies")


def test_parse_since() -> None:
    assert parse_since("30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_since("12h", NOW) == NOW - timedelta(hours=12)
    assert parse_since("2d", NOW) == NOW - timedelta(days=2)
    assert parse_since("2026-11-20", NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    assert parse_since("2026-11-20T08:00:00+01:00", NOW) == datetime(2026, 11, 20, 7, tzinfo=UTC)
    with pytest.raises(ReplayInputError, match="30m, 12h, 2d"):
        parse_since("yesterday", NOW)


def test_a_candidate_that_anonymizes_routes_the_same(runtime: Runtime, tmp_path: Path) -> None:
    # Replay has no deployment secret, and needs none: anonymizing never changes where an instance goes.
    _routed(runtime, tmp_path)
    anonymizing = {
        "name": "clinical",
        "rules": [
            {**rule, "actions": [{"anonymize": {"profile": "research-basic"}}]} for rule in CLINICAL["rules"]
        ],
    }
    report = replay(
        runtime.sessions,
        since=NOW - timedelta(days=1),
        candidate=Ruleset.model_validate(anonymizing),
        ruleset_name="clinical",
        now=NOW,
    )
    assert (report.total, report.same, report.different) == (3, 3, 0)
