"""Dry-run on a real database with rules applied through ``apply_config``: match, why not, tag diff,
dispositions, unknown ruleset and unreadable files; and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.apply_config import apply_config, parse_config
from axiom.admin.dry_run import (
    NO_DESTINATION,
    ConditionFailure,
    DestinationReport,
    TagDiff,
    UnknownRuleset,
    UnreadableFile,
    dry_run_files,
)
from axiom.admin.dry_run_masking import MASKED
from axiom.db.models import AuditLog, DicomInstance
from axiom.db.repositories.config import config_version
from tests.factories import make_dataset, write_garbage, write_instance

NOW = datetime(2024, 3, 14, 12, 0, tzinfo=UTC)
DESTINATIONS = [
    {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 4242, "ae_title": "ORTHANC"},
    {"name": "archive", "type": "filesystem"},
]
CLINICAL = {
    "name": "clinical",
    "rules": [
        {
            "name": "ct",
            "when": {"tag": "Modality", "equals": "CT"},
            "actions": [
                {"set": {"tag": "InstitutionName", "value": "Axiom Imaging"}},
                {"delete": {"tag": "ReferringPhysicianName"}},
            ],
            "destinations": ["archive", {"name": "pacs", "priority": "high"}],
        },
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}
HOLD = {
    "name": "hold",
    "enabled": False,
    "rules": [
        {
            "name": "us",
            "when": {"tag": "Modality", "equals": "US"},
            "actions": [{"quarantine": {"reason": "ultrasound needs review"}}],
        }
    ],
}


def _apply(sessions: sessionmaker[Session], *rulesets: dict[str, Any]) -> None:
    config = parse_config({"destinations": DESTINATIONS, "rulesets": list(rulesets)})
    with sessions() as session:
        apply_config(session, config, actor="test")
        session.commit()


def _file(tmp_path: Path, modality: str) -> Path:
    return write_instance(make_dataset(modality=modality), tmp_path / f"{modality}.dcm")


def test_match_reports_destinations_by_priority_and_the_tag_diff(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, CLINICAL, HOLD)
    ct = _file(tmp_path, "CT")
    original = ct.read_bytes()
    with sessions() as session:
        version = config_version(session)
        audits = session.scalar(select(func.count()).select_from(AuditLog))

    (report,) = dry_run_files(sessions, [ct], now=NOW)

    assert report.file == str(ct)
    assert report.disposition == "route" and report.reason == ""
    assert [(r.rule, r.matched) for r in report.rules] == [("clinical/ct", True), ("clinical/mr", False)]
    assert report.destinations == [
        DestinationReport(name="pacs", priority="high"),
        DestinationReport(name="archive", priority="default"),
    ]
    assert report.changes == [
        TagDiff(
            tag="(0008,0080)",
            keyword="InstitutionName",
            change="changed",
            old="Example General Hospital",
            new="Axiom Imaging",
        ),
        TagDiff(
            tag="(0008,0090)",
            keyword="ReferringPhysicianName",
            change="removed",
            old="REFERRER^ALEX",
            new=None,
        ),
    ]
    # The file itself is untouched, and the database got nothing.
    assert ct.read_bytes() == original
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(DicomInstance)) == 0
        assert config_version(session) == version
        assert session.scalar(select(func.count()).select_from(AuditLog)) == audits


def test_non_match_names_the_failing_condition_and_no_destination_quarantines(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, CLINICAL)
    (report,) = dry_run_files(sessions, [_file(tmp_path, "CR")], now=NOW)

    assert [r.matched for r in report.rules] == [False, False]
    failure = report.rules[0].failure
    assert isinstance(failure, ConditionFailure)
    assert (failure.path, failure.operator) == ("(0008,0060) Modality", "equals")
    assert failure.reason and "CR" not in failure.reason, failure.reason  # never quotes the value
    # Like the worker: nothing routed it, so it would be held as "no matching rule".
    assert report.disposition == "quarantine" and report.reason == NO_DESTINATION
    assert report.destinations == [] and report.changes == []


def test_named_ruleset_runs_even_when_disabled_and_quarantines(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, CLINICAL, HOLD)
    us = _file(tmp_path, "US")

    (active,) = dry_run_files(sessions, [us], now=NOW)
    assert [r.rule for r in active.rules] == ["clinical/ct", "clinical/mr"]  # "hold" is disabled

    (report,) = dry_run_files(sessions, [us], ruleset="hold", now=NOW)
    assert [(r.rule, r.matched) for r in report.rules] == [("hold/us", True)]
    assert report.disposition == "quarantine"
    assert report.reason == "hold/us: ultrasound needs review"
    assert report.destinations == [] and report.changes == []


def test_context_is_the_dry_run_source_with_the_given_ae_titles(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    ruleset = {
        "name": "by-context",
        "rules": [
            {"name": "dry", "when": {"context": "source", "equals": "dry-run"}, "destinations": ["archive"]},
            {"name": "ct-room", "when": {"context": "calling_ae", "equals": "CT1"}, "destinations": ["pacs"]},
        ],
    }
    _apply(sessions, ruleset)
    ct = _file(tmp_path, "CT")

    (plain,) = dry_run_files(sessions, [ct], now=NOW)
    assert [r.matched for r in plain.rules] == [True, False]
    (from_ct1,) = dry_run_files(sessions, [ct], now=NOW, calling_ae="CT1")
    assert [r.matched for r in from_ct1.rules] == [True, True]
    assert [d.name for d in from_ct1.destinations] == ["archive", "pacs"]


def test_unknown_ruleset_and_unreadable_file_are_clear_errors(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    _apply(sessions, CLINICAL)
    ct = _file(tmp_path, "CT")

    with pytest.raises(UnknownRuleset, match="no ruleset named 'nope'"):
        dry_run_files(sessions, [ct], ruleset="nope", now=NOW)

    garbage = write_garbage(tmp_path / "garbage.bin")
    with pytest.raises(UnreadableFile, match=r"garbage\.bin: not a DICOM file"):
        dry_run_files(sessions, [ct, garbage], now=NOW)
    with pytest.raises(UnreadableFile, match=r"missing\.dcm: cannot read the file"):
        dry_run_files(sessions, [tmp_path / "missing.dcm"], now=NOW)


def test_an_anonymizing_rule_shows_the_pseudonym_with_the_secret_and_quarantines_without(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    research = {
        "name": "research",
        "rules": [
            {"name": "anon", "actions": [{"anonymize": {"profile": "basic"}}], "destinations": ["archive"]}
        ],
    }
    _apply(sessions, research)
    ct = _file(tmp_path, "CT")
    (report,) = dry_run_files(sessions, [ct], now=NOW, anon_secret="dry-run-secret", reveal=True)
    assert report.disposition == "route"
    changes = {change.keyword: change for change in report.changes}
    assert changes["PatientID"].new is not None and changes["PatientID"].new.startswith("ANON-")
    assert changes["PatientIdentityRemoved"].change == "added"
    assert changes["StudyInstanceUID"].new is not None and changes["StudyInstanceUID"].new.startswith("2.25.")
    (masked,) = dry_run_files(sessions, [ct], now=NOW, anon_secret="dry-run-secret")
    shown = {change.keyword: change.new for change in masked.changes}
    assert shown["PatientID"] == shown["StudyInstanceUID"] == MASKED
    assert shown["PatientIdentityRemoved"] == "YES"
    (without,) = dry_run_files(sessions, [ct], now=NOW)
    assert without.disposition == "quarantine" and "AXIOM_ANON_SECRET" in without.reason
