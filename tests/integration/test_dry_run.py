"""Dry-run through the real CLI (``axiom rules test``) and the real API app, on the embedded set-up
(SQLite under a temporary data dir): the report, the errors, and nothing sent or stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from axiom.config import Settings
from tests.factories import make_dataset, write_garbage, write_instance
from tests.integration.stack import AxiomStack

pytestmark = pytest.mark.integration

CONFIG = {
    "destinations": [{"name": "archive", "type": "filesystem"}],
    "rulesets": [
        {
            "name": "clinical",
            "rules": [
                {
                    "name": "ct",
                    "when": {"tag": "Modality", "equals": "CT"},
                    "actions": [{"set": {"tag": "InstitutionName", "value": "Axiom Imaging"}}],
                    "destinations": [{"name": "archive", "priority": "high"}],
                },
                {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
            ],
        },
        {
            "name": "hold",
            "enabled": False,
            "rules": [{"name": "all", "actions": [{"quarantine": {"reason": "held for review"}}]}],
        },
    ],
}
INSTITUTION = {
    "tag": "(0008,0080)",
    "keyword": "InstitutionName",
    "change": "changed",
    "old": "Example General Hospital",
    "new": "Axiom Imaging",
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AxiomStack]:
    stack = AxiomStack(tmp_path / "data", {})
    stack.apply(CONFIG)
    yield stack
    stack.stop_all()


@pytest.fixture
def ct_file(tmp_path: Path) -> Path:
    return write_instance(make_dataset(modality="CT"), tmp_path / "in" / "ct.dcm")


def _nothing_stored(stack: AxiomStack) -> None:
    assert stack.query("SELECT count(*) FROM dicom_instances")[0][0] == 0
    assert stack.query("SELECT count(*) FROM exception_logs")[0][0] == 0
    assert [p for p in (stack.data_dir / "destinations").rglob("*") if p.is_file()] == []
    assert [p for p in (stack.data_dir / "spool").rglob("*") if p.is_file()] == []


def test_cli_reports_rules_diff_and_destinations(stack: AxiomStack, ct_file: Path, tmp_path: Path) -> None:
    mr_file = write_instance(make_dataset(modality="MR"), tmp_path / "in" / "mr.dcm")

    text = stack.axiom("rules", "test", str(ct_file), str(mr_file))
    assert text.returncode == 0
    out = text.stdout
    assert f"== {ct_file}\ndisposition: route\nrules:\n  MATCH    clinical/ct\n" in out
    assert "  no match clinical/mr: (0008,0060) Modality equals:" in out
    assert "destinations:\n  archive (high)\n" in out
    assert (
        "tag changes:\n  changed  (0008,0080) InstitutionName: Example General Hospital -> Axiom Imaging"
        in out
    )
    assert f"== {mr_file}\ndisposition: route\n" in out

    reports = json.loads(stack.axiom("rules", "test", str(ct_file), "--output", "json").stdout)
    assert len(reports) == 1
    assert reports[0]["disposition"] == "route"
    assert [(r["rule"], r["matched"]) for r in reports[0]["rules"]] == [
        ("clinical/ct", True),
        ("clinical/mr", False),
    ]
    assert reports[0]["rules"][1]["failure"]["operator"] == "equals"
    assert reports[0]["destinations"] == [
        {"name": "archive", "priority": "high", "trigger": "instance", "rule": ""}
    ]
    assert reports[0]["changes"] == [INSTITUTION]

    held = json.loads(stack.axiom("rules", "test", str(ct_file), "--ruleset", "hold", "-o", "json").stdout)
    assert held[0]["disposition"] == "quarantine" and held[0]["reason"] == "hold/all: held for review"
    _nothing_stored(stack)


def test_cli_errors_exit_2(stack: AxiomStack, ct_file: Path, tmp_path: Path) -> None:
    garbage = write_garbage(tmp_path / "garbage.bin")
    bad = stack.axiom("rules", "test", str(ct_file), str(garbage), check=False)
    assert bad.returncode == 2 and f"error: {garbage}: not a DICOM file" in bad.stderr
    assert bad.stdout == ""
    unknown = stack.axiom("rules", "test", str(ct_file), "--ruleset", "nope", check=False)
    assert unknown.returncode == 2 and "error: no ruleset named 'nope'" in unknown.stderr
    _nothing_stored(stack)


def test_api_dry_run(stack: AxiomStack, ct_file: Path, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=stack.data_dir))
    key = stack.axiom("users", "create-api-key", "--name", "reader", "--role", "user").stdout.strip()
    with TestClient(app) as client:
        url = "/api/v1/config/rules/dry-run"
        upload = {"file": ("ct.dcm", ct_file.read_bytes(), "application/dicom")}
        assert client.post(url, files=upload).status_code == 401
        client.headers["X-API-Key"] = key
        response = client.post(url, files={"file": ("ct.dcm", ct_file.read_bytes(), "application/dicom")})
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["file"] == "ct.dcm" and report["disposition"] == "route"
        assert [(r["rule"], r["matched"]) for r in report["rules"]] == [
            ("clinical/ct", True),
            ("clinical/mr", False),
        ]
        assert report["rules"][1]["failure"]["path"] == "(0008,0060) Modality"
        assert report["destinations"] == [
            {"name": "archive", "priority": "high", "trigger": "instance", "rule": ""}
        ]
        assert report["changes"] == [INSTITUTION]

        held = client.post(url, params={"ruleset": "hold"}, files={"file": ("ct.dcm", ct_file.read_bytes())})
        assert held.status_code == 200
        assert held.json()["disposition"] == "quarantine"

        garbage = write_garbage(tmp_path / "garbage.bin").read_bytes()
        not_dicom = client.post(url, files={"file": ("x.bin", garbage)})
        assert not_dicom.status_code == 422 and "x.bin: not a DICOM file" in not_dicom.json()["detail"]
        no_file = client.post(url, files={"other": ("ct.dcm", ct_file.read_bytes())})
        # FastAPI's validation error names the missing field.
        assert no_file.status_code == 422 and no_file.json()["detail"][0]["loc"] == ["body", "file"]
        raw = client.post(url, content=ct_file.read_bytes(), headers={"content-type": "application/dicom"})
        assert raw.status_code == 422 and raw.json()["detail"][0]["loc"] == ["body", "file"]

        unknown = client.post(
            url, params={"ruleset": "nope"}, files={"file": ("ct.dcm", ct_file.read_bytes())}
        )
        assert unknown.status_code == 404 and unknown.json()["detail"] == "no ruleset named 'nope'"
    _nothing_stored(stack)
