"""``POST /config/rules/dry-run`` does not hand out pseudonyms: a ``user`` sees what would change with
pseudonyms, UIDs, date shifts and crosswalk values masked; ``reveal=true`` is admin-only and audited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.dry_run import REVEAL_ACTION
from axiom.admin.dry_run_masking import MASKED
from axiom.config import Settings
from tests.factories import make_dataset, write_instance
from tests.unit.api.conftest import Credentials, audit_rows

BASE = "/api/v1/config"
RULESET = {
    "rules": [
        {
            "name": "research",
            "actions": [
                {"anonymize": {"profile": "basic", "options": ["retain-longitudinal-modified-dates"]}},
                {"crosswalk": {"table": "mrn-map", "tag": "PatientID"}},
                {"copy": {"from": "PatientID", "to": "ClinicalTrialSubjectID"}},
                {"set": {"tag": "InstitutionName", "value": "Research Site"}},
            ],
            "destinations": ["archive"],
        }
    ]
}


def _setup(client: TestClient, creds: Credentials, settings: Settings) -> None:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    (settings.data_path / "mrn.csv").write_text("mrn,study_id\nMRN-0042,RSRCH-SUBJECT-17\n")
    crosswalk = {"source": {"csv": "mrn.csv", "key_column": "mrn", "value_column": "study_id"}}
    for path, body in (
        ("crosswalks/mrn-map", crosswalk),
        ("destinations/archive", {"type": "filesystem"}),
        ("rulesets/research", RULESET),
    ):
        assert client.put(f"{BASE}/{path}", json=body, headers=creds.admin).status_code == 201
    assert client.post(f"{BASE}/crosswalks/mrn-map/sync", headers=creds.admin).json()["ok"]


def _upload(client: TestClient, headers: dict[str, str], path: Path, reveal: bool = False) -> Any:
    with path.open("rb") as handle:
        return client.post(
            f"{BASE}/rules/dry-run",
            params={"reveal": "true"} if reveal else None,
            files={"file": ("ct.dcm", handle, "application/dicom")},
            headers=headers,
        )


def test_user_sees_keyed_and_crosswalk_values_masked_and_reveal_is_admin_only_and_audited(
    client: TestClient,
    creds: Credentials,
    settings: Settings,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    _setup(client, creds, settings)
    ds = make_dataset(modality="CT")
    ds.PatientID = "MRN-0042"
    ds.StudyDate = "20240115"
    path = write_instance(ds, tmp_path / "ct.dcm")

    refused = _upload(client, creds.user, path, reveal=True)
    assert refused.status_code == 403
    assert audit_rows(sessions, REVEAL_ACTION) == []

    revealed = _upload(client, creds.admin, path, reveal=True)
    assert revealed.status_code == 200, revealed.text
    shown = {c["keyword"]: c for c in revealed.json()["changes"]}
    assert shown["PatientID"]["new"] == shown["ClinicalTrialSubjectID"]["new"] == "RSRCH-SUBJECT-17"
    pseudonym, uid, shifted = (shown[k]["new"] for k in ("PatientName", "StudyInstanceUID", "StudyDate"))
    assert pseudonym and uid and shifted and shifted != "20240115"
    (audit,) = audit_rows(sessions, REVEAL_ACTION)
    assert audit.actor == "api-key:deployer"

    for role in ("user", "admin"):
        response = _upload(client, creds[role], path)
        assert response.status_code == 200, response.text
        report = response.json()
        assert report["disposition"] == "route" and report["destinations"][0]["name"] == "archive"
        changes = {c["keyword"]: c for c in report["changes"]}
        # Keyed (anonymize) and crosswalk-derived values, and a copy of one, are masked ...
        keyed = ("PatientID", "PatientName", "StudyInstanceUID", "SOPInstanceUID", "StudyDate")
        for keyword in (*keyed, "ClinicalTrialSubjectID"):
            assert changes[keyword]["new"] == MASKED, keyword
        # ... what the uploader sent stays readable, and so does a value the rule writes from its text.
        assert changes["PatientID"]["old"] == "MRN-0042"
        assert changes["PatientIdentityRemoved"]["new"] == "YES"
        assert changes["InstitutionName"]["new"] == "Research Site"
        for value in (pseudonym, uid, shifted, "RSRCH-SUBJECT-17"):
            assert value not in response.text
    assert len(audit_rows(sessions, REVEAL_ACTION)) == 1
