"""Series/study-complete rules through route_instance, the completeness claim and the group firing:
real SQLite, a real spool and real filesystem destinations; the clock is passed in, never slept."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import FileDataset
from sqlalchemy import text

from axiom.domain.instances import InstanceStatus
from axiom.pipeline.completion import (
    claim_complete_groups,
    fire_group,
    purge_fired_groups,
    refresh_expected_counts,
)
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import fake_patient, make_dataset, write_instance
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
STUDY = "1.2.826.0.1.3680043.8.498.7001"


def _config(trigger: dict[str, Any] | str) -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "each", "type": "filesystem"},
            {"name": "whole", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {"name": "each", "destinations": ["each"]},
                    {
                        "name": "whole-study",
                        "when": {"tag": "Modality", "equals": "CT"},
                        "actions": [{"set": {"tag": "StationName", "value": "GROUPED"}}],
                        "trigger": trigger,
                        "destinations": ["whole"],
                    },
                ],
            }
        ],
    }


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data", completion_quiet_seconds=30) as rt:
        apply_dict(rt, _config("study"), tmp_path)
        yield rt


def _instance(
    index: int, *, series: int = 1, announce: int | None = None, modality: str = "CT"
) -> FileDataset:
    ds = make_dataset(
        modality=modality,
        patient=fake_patient(1),
        study_uid=STUDY,
        series_uid=f"{STUDY}.{series}",
        sop_instance_uid=f"{STUDY}.{series}.{index}",
        series_number=series,
        instance_number=index,
    )
    del ds.NumberOfSeriesRelatedInstances
    del ds.NumberOfStudyRelatedInstances
    if announce is not None:
        ds.NumberOfStudyRelatedInstances = announce
    return ds


def _receive(runtime: Runtime, ds: FileDataset, folder: Path, now: datetime) -> InstanceStatus | str:
    path = _spool_dataset(runtime, ds, folder / f"{ds.SOPInstanceUID}.dcm")
    outcome = route_instance(runtime, message_for_spooled_file(path), now=now)
    assert outcome is not None
    assert not path.exists()  # the spool lets go once the group holds its own copy
    return outcome.status


def _files(runtime: Runtime, name: str) -> list[Path]:
    return sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))


def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _fire_due(runtime: Runtime, now: datetime) -> list[int]:
    ids = claim_complete_groups(runtime, now)
    for group_id in ids:
        assert fire_group(runtime, group_id, now).state == "fired"
    return ids


def test_study_fires_once_after_the_quiet_period(runtime: Runtime, tmp_path: Path) -> None:
    for i in range(3):
        status = _receive(runtime, _instance(i, series=1 + i % 2), tmp_path, T0 + timedelta(seconds=i))
        assert status == InstanceStatus.WAITING
    # The per-instance rule already delivered each one; the study rule holds them.
    assert len(_files(runtime, "each")) == 3
    assert _files(runtime, "whole") == []

    assert claim_complete_groups(runtime, T0 + timedelta(seconds=31)) == []  # 29 s after the last
    assert _fire_due(runtime, T0 + timedelta(seconds=33)) != []
    assert _fire_due(runtime, T0 + timedelta(seconds=90)) == []  # never twice

    sent = _files(runtime, "whole")
    assert len(sent) == 3
    assert {dcmread(p).StationName for p in sent} == {"GROUPED"}
    assert _rows(runtime, "SELECT level, status, fire_count, received_count FROM completion_groups") == [
        ("study", "fired", 1, 3)
    ]
    assert _rows(runtime, "SELECT count(*) FROM completion_members WHERE delivered_at IS NULL") == [(0,)]
    assert _rows(runtime, "SELECT DISTINCT status FROM dicom_instances") == [("delivered",)]
    assert list(runtime.settings.held_dir.glob("*.dcm")) == []


def test_announced_count_ends_the_wait_early(runtime: Runtime, tmp_path: Path) -> None:
    for i in range(2):
        _receive(runtime, _instance(i, announce=3), tmp_path, T0)
    assert claim_complete_groups(runtime, T0 + timedelta(seconds=1)) == []
    _receive(runtime, _instance(2, announce=3), tmp_path, T0)
    assert len(_fire_due(runtime, T0 + timedelta(seconds=1))) == 1
    assert len(_files(runtime, "whole")) == 3


def test_series_trigger_groups_per_series(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config({"level": "series", "quiet_seconds": 5}), tmp_path)
    for i in range(4):
        _receive(runtime, _instance(i, series=1 + i % 2), tmp_path, T0)
    assert len(_fire_due(runtime, T0 + timedelta(seconds=6))) == 2
    assert _rows(runtime, "SELECT level, received_count, fire_count FROM completion_groups ORDER BY id") == [
        ("series", 2, 1),
        ("series", 2, 1),
    ]


def test_a_new_arrival_between_check_and_claim_postpones_the_fire(runtime: Runtime, tmp_path: Path) -> None:
    _receive(runtime, _instance(0), tmp_path, T0)
    _receive(runtime, _instance(1), tmp_path, T0 + timedelta(seconds=40))
    assert claim_complete_groups(runtime, T0 + timedelta(seconds=41)) == []


def test_rules_that_do_not_match_hold_nothing(runtime: Runtime, tmp_path: Path) -> None:
    status = _receive(runtime, _instance(0, modality="MR"), tmp_path, T0)
    assert status == InstanceStatus.DELIVERED
    assert _rows(runtime, "SELECT count(*) FROM completion_groups") == [(0,)]


@pytest.mark.parametrize("policy", ["send_alone", "hold", "resend_study"])
def test_straggler_policies(runtime: Runtime, tmp_path: Path, policy: str) -> None:
    apply_dict(runtime, _config({"level": "study", "straggler": policy}), tmp_path)
    for i in range(2):
        _receive(runtime, _instance(i), tmp_path, T0)
    _fire_due(runtime, T0 + timedelta(seconds=31))
    assert len(_files(runtime, "whole")) == 2

    late = T0 + timedelta(minutes=5)
    _receive(runtime, _instance(9), tmp_path, late)
    whole = runtime.settings.destinations_root / "whole"
    straggler = f"{STUDY}.1.9"

    if policy == "send_alone":
        assert len(_files(runtime, "whole")) == 3
        assert claim_complete_groups(runtime, late + timedelta(hours=1)) == []
    elif policy == "hold":
        assert len(_files(runtime, "whole")) == 2
        rows = _rows(runtime, "SELECT stage, error_class, destination, status, file_path FROM exception_logs")
        assert [r[:4] for r in rows] == [("trigger", "Straggler", "whole", "dead")]
        assert dcmread(rows[0][4]).SOPInstanceUID == straggler
        assert claim_complete_groups(runtime, late + timedelta(hours=1)) == []
    else:
        # The study goes again, whole, once it is quiet again: the earlier copies were kept for it.
        before = {p: p.stat().st_mtime_ns for p in _files(runtime, "whole")}
        assert claim_complete_groups(runtime, late + timedelta(seconds=10)) == []
        assert len(_fire_due(runtime, late + timedelta(seconds=31))) == 1
        after = _files(runtime, "whole")
        assert len(after) == 3
        assert all(p.stat().st_mtime_ns > before[p] for p in before)
        assert _rows(runtime, "SELECT fire_count, received_count FROM completion_groups") == [(2, 3)]
    assert any(straggler in str(p) for p in whole.rglob("*.dcm")) == (policy != "hold")


def test_lost_firing_task_is_claimed_again(runtime: Runtime, tmp_path: Path) -> None:
    _receive(runtime, _instance(0), tmp_path, T0)
    (group_id,) = claim_complete_groups(runtime, T0 + timedelta(seconds=31))
    # The task for it never ran (a worker was killed); later checks claim it again, once.
    assert claim_complete_groups(runtime, T0 + timedelta(seconds=60)) == []
    later = T0 + timedelta(seconds=31 + runtime.settings.completion_refire_after_seconds + 1)
    assert claim_complete_groups(runtime, later) == [group_id]
    assert fire_group(runtime, group_id, later).sent == 1
    assert fire_group(runtime, group_id, later).state == "skipped"  # a duplicate task sends nothing
    assert len(_files(runtime, "whole")) == 1


def test_a_firing_cut_short_after_its_ledger_commit_does_not_send_again(
    runtime: Runtime, tmp_path: Path
) -> None:
    for i in range(3):
        _receive(runtime, _instance(i), tmp_path, T0)
    (group_id,) = claim_complete_groups(runtime, T0 + timedelta(seconds=31))
    held = {
        Path(r[0]): Path(r[0]).read_bytes()
        for r in _rows(runtime, "SELECT file_path FROM completion_members")
    }
    assert fire_group(runtime, group_id, T0 + timedelta(seconds=31)).sent == 3
    sent = {p: p.stat().st_mtime_ns for p in _files(runtime, "whole")}
    assert len(sent) == 3
    # What a worker killed after the destination's ledger commit, before the chunk was marked sent,
    # leaves behind: the group firing, its members unsent, their held copies in place. The task
    # runs again.
    with runtime.engine.begin() as conn:
        conn.execute(text("UPDATE completion_groups SET status = 'firing'"))
        conn.execute(text("UPDATE completion_members SET delivered_at = NULL"))
    for path, content in held.items():
        path.write_bytes(content)
    assert fire_group(runtime, group_id, T0 + timedelta(seconds=40)).state == "fired"
    assert {p: p.stat().st_mtime_ns for p in _files(runtime, "whole")} == sent  # none written again
    assert _rows(runtime, "SELECT DISTINCT status FROM dicom_instances") == [("delivered",)]


def test_failed_group_delivery_becomes_a_retryable_exception(runtime: Runtime, tmp_path: Path) -> None:
    config = _config("study")
    config["destinations"][1] = {
        "name": "whole",
        "type": "cstore",
        "host": "127.0.0.1",
        "port": 1,
        "ae_title": "NOBODY",
    }
    apply_dict(runtime, config, tmp_path)
    _receive(runtime, _instance(0), tmp_path, T0)
    (group_id,) = claim_complete_groups(runtime, T0 + timedelta(seconds=31))
    outcome = fire_group(runtime, group_id, T0 + timedelta(seconds=31))
    assert outcome.state == "fired" and len(outcome.retries) == 1
    rows = _rows(runtime, "SELECT stage, destination, status, file_path FROM exception_logs")
    assert [r[:3] for r in rows] == [("deliver", "whole", "open")]
    assert Path(rows[0][3]).exists()
    assert _rows(runtime, "SELECT status FROM dicom_instances") == [("failed",)]


def test_purge_forgets_old_groups_and_their_copies(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config({"level": "study", "straggler": "resend_study"}), tmp_path)
    _receive(runtime, _instance(0), tmp_path, T0)
    _fire_due(runtime, T0 + timedelta(seconds=31))
    assert len(list(runtime.settings.held_dir.glob("*.dcm"))) == 1  # kept for a resend
    assert purge_fired_groups(runtime, T0 + timedelta(hours=1)) == 0
    assert purge_fired_groups(runtime, T0 + timedelta(hours=25)) == 1
    assert list(runtime.settings.held_dir.glob("*.dcm")) == []
    assert _rows(runtime, "SELECT count(*) FROM completion_members") == [(0,)]


def test_dry_run_shows_when_each_destination_would_receive(runtime: Runtime) -> None:
    from axiom.admin.dry_run import dry_run_dataset, load_rulesets
    from rules.model import IngestContext

    with runtime.sessions() as session:
        rulesets = load_rulesets(session, None)
    report = dry_run_dataset("ct.dcm", rulesets, _instance(0), IngestContext(now=T0))
    assert report.disposition == "route"
    assert [(d.name, d.trigger, d.rule) for d in report.destinations] == [
        ("each", "instance", ""),
        ("whole", "study", "main/whole-study"),
    ]


@pytest.mark.integration
@pytest.mark.parametrize("level", ["study", "series"])
def test_count_from_a_cfind_to_the_source_ends_the_wait_early(
    runtime: Runtime, tmp_path: Path, level: str
) -> None:
    from tests.support.orthanc import Orthanc, orthanc_available
    from tests.support.services import require

    require("Orthanc", orthanc_available(), "/usr/sbin/Orthanc is not installed (apt-get install orthanc)")
    with Orthanc(tmp_path / "orthanc", config_overrides={"DicomAlwaysAllowFind": True}) as pacs:
        # The source PACS holds the whole series (3 instances); Axiom gets them one by one.
        datasets = [_instance(i) for i in range(3)]
        for i, ds in enumerate(datasets):
            pacs.upload(Path(write_instance(ds, tmp_path / f"pacs-{i}.dcm")).read_bytes())
        peer = {"host": "127.0.0.1", "port": pacs.dicom_port, "ae_title": pacs.ae_title}
        apply_dict(runtime, _config({"level": level, "quiet_seconds": 3600, "count_query": peer}), tmp_path)

        for ds in datasets[:2]:
            _receive(runtime, ds, tmp_path, T0)
        assert refresh_expected_counts(runtime, T0) == 1
        assert _rows(runtime, "SELECT expected_count, received_count FROM completion_groups") == [(3, 2)]
        assert claim_complete_groups(runtime, T0 + timedelta(seconds=1)) == []
        # Asked again only after completion_count_query_seconds.
        pacs.stop()
        assert refresh_expected_counts(runtime, T0 + timedelta(seconds=1)) == 0

        _receive(runtime, datasets[2], tmp_path, T0 + timedelta(seconds=2))
        assert len(_fire_due(runtime, T0 + timedelta(seconds=3))) == 1
        assert len(_files(runtime, "whole")) == 3


def test_an_unreachable_count_peer_leaves_the_quiet_period_in_charge(
    runtime: Runtime, tmp_path: Path
) -> None:
    from tests.support.dcmtk import free_port

    peer = {"host": "127.0.0.1", "port": free_port(), "ae_title": "GONE"}
    apply_dict(runtime, _config({"level": "study", "count_query": peer}), tmp_path)
    _receive(runtime, _instance(0), tmp_path, T0)
    assert refresh_expected_counts(runtime, T0) == 0
    assert _rows(runtime, "SELECT expected_count, count_checked_at IS NOT NULL FROM completion_groups") == [
        (None, 1)
    ]
    assert len(_fire_due(runtime, T0 + timedelta(seconds=31))) == 1


@pytest.mark.integration
def test_a_whole_study_goes_to_stowrs_in_batched_requests(runtime: Runtime, tmp_path: Path) -> None:
    from tests.support.orthanc import Orthanc, dicomweb_plugin, orthanc_available
    from tests.support.services import require

    require(
        "Orthanc DICOMweb", orthanc_available() and dicomweb_plugin() is not None, "orthanc-dicomweb missing"
    )
    with Orthanc(tmp_path / "orthanc") as pacs:
        config = _config("study")
        config["destinations"][1] = {
            "name": "whole",
            "type": "stowrs",
            "url": pacs.dicomweb_url,
            "batch_size": 10,
        }
        apply_dict(runtime, config, tmp_path)
        for i in range(25):
            _receive(runtime, _instance(i, series=1 + i % 3), tmp_path, T0)
        (group_id,) = claim_complete_groups(runtime, T0 + timedelta(seconds=31))
        assert fire_group(runtime, group_id, T0 + timedelta(seconds=31)).sent == 25

        assert pacs.count_instances() == 25
        stow = runtime.destination(runtime.config(), "whole")
        # Chunks of 50 members, requests of 10: 3 requests for 25 instances, not 25.
        assert stow.requests_sent == 3  # type: ignore[attr-defined]
        assert _rows(
            runtime, "SELECT count(*) FROM deliveries WHERE destination = 'whole' AND status = 'delivered'"
        ) == [(25,)]
