"""The worker stores the pseudonym it sent; re-identification is audited; the secret is kept safe.

Real SQLite, a real spool and a real filesystem destination, as in test_route_instance.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pydicom import dcmread
from pydicom.filereader import read_file_meta_info
from sqlalchemy import select
from typer.testing import CliRunner

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.config import Settings
from axiom.db.models import AuditLog, PseudonymRow
from axiom.db.session import upgrade_database
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus
from axiom.infra.anon_secret import deployment_secret
from axiom.pipeline.pseudonyms import ReidentifyRefused, reidentify
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from cli.main import app
from tests.factories import FakePatient, make_dataset, write_instance

PATIENT = FakePatient(name="DOE^JANE", patient_id="MRN-0042", birth_date="19600101", sex="F")


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    config = {
        "destinations": [{"name": "research", "type": "filesystem"}],
        "rulesets": [
            {
                "name": "research",
                "rules": [
                    {
                        "name": "anon",
                        "actions": [{"anonymize": {"profile": "research-basic"}}],
                        "destinations": ["research"],
                    }
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
    yield rt
    rt.close()


def _spool(runtime: Runtime, tmp_path: Path, modality: str, number: int) -> Path:
    ds = make_dataset(modality=modality, patient=PATIENT, instance_number=number)
    source = write_instance(ds, tmp_path / f"{modality}-{number}.dcm")
    meta = read_file_meta_info(source)
    body_start = 132 + 12 + int(meta.FileMetaInformationGroupLength)
    spool = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False)
    return spool.write(meta, source.read_bytes()[body_start:])


def test_the_worker_sends_anonymized_data_and_stores_the_pseudonym(runtime: Runtime, tmp_path: Path) -> None:
    for number in (1, 2):
        outcome = route_instance(runtime, message_for_spooled_file(_spool(runtime, tmp_path, "CT", number)))
        assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    files = sorted((runtime.settings.destinations_root / "research").rglob("*.dcm"))
    sent = [dcmread(f) for f in files]
    assert len(sent) == 2
    assert {ds.PatientID for ds in sent} == {sent[0].PatientID} and sent[0].PatientID.startswith("ANON-")
    assert all(b"MRN-0042" not in f.read_bytes() and b"DOE" not in f.read_bytes() for f in files)
    with runtime.sessions() as session:
        rows = session.scalars(select(PseudonymRow)).all()
        assert [(r.pseudonym, r.original_patient_id, r.original_patient_name) for r in rows] == [
            (sent[0].PatientID, "MRN-0042", "DOE^JANE")
        ]
        assert rows[0].profile == "research-basic" and rows[0].date_shift_days is not None
    secret_file = runtime.settings.anon_secret_file
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600


def test_a_burned_in_risk_is_quarantined_and_stores_nothing(runtime: Runtime, tmp_path: Path) -> None:
    outcome = route_instance(runtime, message_for_spooled_file(_spool(runtime, tmp_path, "US", 1)))
    assert outcome is not None and outcome.status == InstanceStatus.QUARANTINED
    assert list(runtime.settings.quarantine_dir.iterdir())
    with runtime.sessions() as session:
        assert session.scalars(select(PseudonymRow)).all() == []


def test_reidentify_returns_the_patient_and_writes_an_audit_row(runtime: Runtime, tmp_path: Path) -> None:
    route_instance(runtime, message_for_spooled_file(_spool(runtime, tmp_path, "CT", 1)))
    with runtime.sessions() as session:
        pseudonym = session.scalars(select(PseudonymRow.pseudonym)).one()
        with pytest.raises(ReidentifyRefused):
            reidentify(session, pseudonym, actor="dr.who", reason=" ")
        [identity] = reidentify(session, pseudonym, actor="dr.who", reason="incidental finding, ticket 17")
        assert (identity.patient_id, identity.patient_name) == ("MRN-0042", "DOE^JANE")
        assert reidentify(session, "ANON-UNKNOWN", actor="dr.who", reason="typo") == []
    with runtime.sessions() as session:
        audits = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        reids = [a for a in audits if a.action == "reidentify"]
        assert [(a.actor, a.target, a.details) for a in reids] == [
            ("dr.who", pseudonym, {"reason": "incidental finding, ticket 17", "matches": 1}),
            ("dr.who", "ANON-UNKNOWN", {"reason": "typo", "matches": 0}),
        ]
        assert all("MRN-0042" not in str(a.details) for a in reids)


def test_the_cli_reidentifies_with_an_audit_row(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    route_instance(runtime, message_for_spooled_file(_spool(runtime, tmp_path, "CT", 1)))
    with runtime.sessions() as session:
        pseudonym = session.scalars(select(PseudonymRow.pseudonym)).one()
    monkeypatch.setenv("AXIOM_DATA_DIR", str(runtime.settings.data_dir))
    result = CliRunner().invoke(
        app, ["anonymize", "reidentify", pseudonym, "--reason", "tumour board", "--actor", "admin"]
    )
    assert result.exit_code == 0, result.output
    assert "MRN-0042" in result.output and "DOE^JANE" in result.output
    assert CliRunner().invoke(app, ["anonymize", "reidentify", "NOPE", "--reason", "x"]).exit_code == 1
    with runtime.sessions() as session:
        targets = session.scalars(select(AuditLog.target).where(AuditLog.action == "reidentify")).all()
    assert targets == [pseudonym, "NOPE"]


def test_the_secret_setting_wins_and_the_generated_one_is_stable(tmp_path: Path) -> None:
    assert deployment_secret(Settings(data_dir=tmp_path, anon_secret="from-env")) == "from-env"
    assert not (tmp_path / "anon-secret").exists()
    first = deployment_secret(Settings(data_dir=tmp_path))
    assert len(first) == 64 and deployment_secret(Settings(data_dir=tmp_path)) == first
    assert stat.S_IMODE((tmp_path / "anon-secret").stat().st_mode) == 0o600
    assert "from-env" not in repr(Settings(data_dir=tmp_path, anon_secret="from-env"))
