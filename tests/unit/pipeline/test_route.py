"""route_instance through real SQLite, a real spool and a real filesystem destination."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydicom import dcmread
from pydicom.dataset import FileDataset
from pydicom.filereader import read_file_meta_info
from sqlalchemy import text

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.admin.crosswalks import sync_crosswalks
from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset, write_instance


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    (tmp_path / "sites.csv").write_text("code,institution\nOLD HOSP,Axiom General\n")
    config = {
        "crosswalks": [
            {
                "name": "sites",
                "source": {"csv": "sites.csv", "key_column": "code", "value_column": "institution"},
            }
        ],
        "destinations": [{"name": "archive", "type": "filesystem"}],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "us-hold",
                        "when": {"tag": "Modality", "equals": "US"},
                        "actions": [{"quarantine": {"reason": "US held"}}],
                    },
                    {
                        "name": "cr-drop",
                        "when": {"tag": "Modality", "equals": "CR"},
                        "actions": [{"drop": {"reason": "no CR"}}],
                    },
                    {
                        "name": "all",
                        "actions": [{"crosswalk": {"table": "sites", "tag": "InstitutionName"}}],
                        "destinations": ["archive"],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    rt = Runtime(settings)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    sync_crosswalks(rt.sessions)
    yield rt
    rt.close()


def _spool_dataset(runtime: Runtime, ds: FileDataset, path: Path) -> Path:
    """Spool ``ds`` as the listener would: our File Meta, then the encoded dataset as received."""
    source = write_instance(ds, path)
    spool = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False)
    meta = read_file_meta_info(source)
    body_start = 132 + 12 + int(meta.FileMetaInformationGroupLength)
    return spool.write(meta, source.read_bytes()[body_start:])


def _spool(runtime: Runtime, modality: str, tmp_path: Path, institution: str = "OLD HOSP") -> Path:
    ds = make_dataset(modality=modality)
    ds.InstitutionName = institution
    return _spool_dataset(runtime, ds, tmp_path / f"{modality}-{institution}.dcm")


def _archive(runtime: Runtime) -> list[Path]:
    return sorted((runtime.settings.destinations_root / "archive").rglob("*.dcm"))


def _exceptions(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT stage, error_class, status FROM exception_logs"))]


def test_crosswalk_replaces_the_value_on_the_way(runtime: Runtime, tmp_path: Path) -> None:
    path = _spool(runtime, "CT", tmp_path)
    outcome = route_instance(runtime, message_for_spooled_file(path, source="listener"))
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    (delivered,) = _archive(runtime)
    assert dcmread(delivered).InstitutionName == "Axiom General"
    assert not path.exists()


def test_unknown_key_keeps_the_value(runtime: Runtime, tmp_path: Path) -> None:
    path = _spool(runtime, "MR", tmp_path, institution="ELSEWHERE")
    route_instance(runtime, message_for_spooled_file(path))
    (delivered,) = _archive(runtime)
    assert dcmread(delivered).InstitutionName == "ELSEWHERE"


def test_quarantine_action_holds_the_instance_with_a_row(runtime: Runtime, tmp_path: Path) -> None:
    path = _spool(runtime, "US", tmp_path)
    outcome = route_instance(runtime, message_for_spooled_file(path))
    assert outcome is not None and outcome.status == InstanceStatus.QUARANTINED
    assert _archive(runtime) == []
    assert not path.exists()
    assert (runtime.settings.quarantine_dir / path.name).exists()
    assert _exceptions(runtime) == [("route", "RuleQuarantine", "open")]


def test_drop_action_is_recorded_never_silent(runtime: Runtime, tmp_path: Path) -> None:
    path = _spool(runtime, "CR", tmp_path)
    route_instance(runtime, message_for_spooled_file(path))
    assert _archive(runtime) == []
    assert not path.exists()
    assert _exceptions(runtime) == [("route", "Dropped", "resolved")]


def test_high_priority_destinations_are_served_first(runtime: Runtime, tmp_path: Path) -> None:
    config = {
        "destinations": [
            {"name": "slow-archive", "type": "filesystem"},
            {"name": "urgent", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "all",
                        "destinations": [
                            {"name": "slow-archive", "priority": "low"},
                            {"name": "urgent", "priority": "high"},
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "priority.yaml"
    path.write_text(yaml.safe_dump(config))
    with runtime.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    runtime.settings.config_check_seconds = 0

    route_instance(runtime, message_for_spooled_file(_spool(runtime, "CT", tmp_path)))

    root = runtime.settings.destinations_root
    (urgent,) = (root / "urgent").rglob("*.dcm")
    (slow,) = (root / "slow-archive").rglob("*.dcm")
    assert urgent.stat().st_mtime_ns < slow.stat().st_mtime_ns


def test_rules_see_how_many_instances_of_the_series_came_so_far(runtime: Runtime, tmp_path: Path) -> None:
    config = {
        "destinations": [
            {"name": "first-two", "type": "filesystem"},
            {"name": "later", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "early",
                        "when": {"context": "series_instance_count", "range": {"max": 2}},
                        "destinations": ["first-two"],
                    },
                    {
                        "name": "late",
                        "when": {"context": "series_instance_count", "range": {"min": 3}},
                        "destinations": ["later"],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "count.yaml"
    path.write_text(yaml.safe_dump(config))
    with runtime.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    series_uid = "1.2.826.0.1.3680043.8.498.999"
    for n in range(3):
        ds = make_dataset(modality="CT", series_uid=series_uid, instance_number=n + 1)
        source = write_instance(ds, tmp_path / f"count-{n}.dcm")
        meta = read_file_meta_info(source)
        body = source.read_bytes()[132 + 12 + int(meta.FileMetaInformationGroupLength) :]
        spooled = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False).write(
            meta, body
        )
        route_instance(runtime, message_for_spooled_file(spooled))

    root = runtime.settings.destinations_root
    assert len(list((root / "first-two").rglob("*.dcm"))) == 2
    assert len(list((root / "later").rglob("*.dcm"))) == 1


def test_a_scheduled_ruleset_routes_only_inside_its_window(runtime: Runtime, tmp_path: Path) -> None:
    config = {
        "destinations": [
            {"name": "day-reading", "type": "filesystem"},
            {"name": "night-archive", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "office-hours",
                "priority": 1,
                "stop_after_match": True,
                "schedule": {
                    "timezone": "Europe/Berlin",
                    "windows": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "07:00", "end": "19:00"}
                    ],
                },
                "rules": [{"name": "all", "destinations": ["day-reading"]}],
            },
            {"name": "main", "priority": 2, "rules": [{"name": "all", "destinations": ["night-archive"]}]},
        ],
    }
    path = tmp_path / "schedule.yaml"
    path.write_text(yaml.safe_dump(config))
    with runtime.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    berlin = ZoneInfo("Europe/Berlin")
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=berlin)
    tuesday_night = datetime(2026, 11, 24, 23, 30, tzinfo=berlin)
    saturday_noon = datetime(2026, 11, 28, 12, 0, tzinfo=berlin)

    for n, now in enumerate((tuesday_noon, tuesday_night, saturday_noon)):
        ds = make_dataset(modality="CT", instance_number=n + 1)
        source = write_instance(ds, tmp_path / f"sched-{n}.dcm")
        meta = read_file_meta_info(source)
        body = source.read_bytes()[132 + 12 + int(meta.FileMetaInformationGroupLength) :]
        spooled = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False).write(
            meta, body
        )
        route_instance(runtime, message_for_spooled_file(spooled), now=now)

    root = runtime.settings.destinations_root
    day = [dcmread(p).InstanceNumber for p in (root / "day-reading").rglob("*.dcm")]
    night = sorted(dcmread(p).InstanceNumber for p in (root / "night-archive").rglob("*.dcm"))
    assert day == [1]
    assert night == [2, 3]
