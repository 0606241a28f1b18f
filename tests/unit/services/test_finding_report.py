"""`infer: {emit_sr: true}` end to end: the finding lands in the destination as a Basic Text SR.

Real SQLite, spool, the tiny ONNX brightness classifier on CPU (tests/support/onnx_models.py) and a
filesystem destination; the document is checked with dciodvfy (dicom3tools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom import Dataset, dcmread

from axiom.ai.report import BASIC_TEXT_SR, finding_report
from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.domain.instances import InstanceStatus
from axiom.services.apply_config import apply_config, load_config_file
from axiom.services.recover_spool import message_for_spooled_file
from axiom.services.route_instance import route_instance
from axiom.services.runtime import Runtime
from rules.engine import evaluate
from rules.model import InferenceResult, IngestContext, Ruleset
from tests.factories import make_dataset
from tests.support.onnx_models import write_model
from tests.unit.services.test_route_instance import _spool_dataset


def _config(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "archive", "type": "filesystem"},
            {"name": "other", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "ai",
                "rules": [
                    {
                        "name": "chest-model",
                        "when": {"tag": "Modality", "in": ["CT"]},
                        "actions": actions,
                        "destinations": ["archive"],
                    },
                    {"name": "copy", "destinations": ["other"]},
                ],
            }
        ],
    }


def _runtime(tmp_path: Path, actions: list[dict[str, Any]]) -> Runtime:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False, ai_batch_wait_ms=1)
    settings.ensure_dirs()
    write_model(settings.ai_models_path, "chest", "1")
    upgrade_database(settings.effective_database_url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(actions)))
    rt = Runtime(settings)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    return rt


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = _runtime(tmp_path, [{"infer": {"model": "chest", "emit_sr": True}}])
    yield rt
    rt.close()


def _bright_ct() -> Dataset:
    ds = make_dataset(modality="CT")
    ds.RescaleIntercept = 1024  # reads "pneumonia"
    return ds


def _delivered(runtime: Runtime, name: str) -> list[Dataset]:
    return [dcmread(p) for p in sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))]


def _dciodvfy(path: Path) -> None:
    if shutil.which("dciodvfy") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dciodvfy (dicom3tools) is required in CI")
        pytest.skip("dciodvfy (dicom3tools) is not installed")
    run = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    assert not [line for line in lines if line.startswith(("Error", "Warning"))], lines


def _content(sr: Dataset) -> dict[str, Dataset]:
    return {item.ConceptNameCodeSequence[0].CodeMeaning: item for item in sr.ContentSequence}


def test_the_finding_lands_in_the_destination_as_a_valid_basic_text_sr(
    runtime: Runtime, tmp_path: Path
) -> None:
    image = _bright_ct()
    message = message_for_spooled_file(_spool_dataset(runtime, image, tmp_path / "ct.dcm"), source="listener")
    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED

    by_modality = {ds.Modality: ds for ds in _delivered(runtime, "archive")}
    assert set(by_modality) == {"CT", "SR"}
    sr = by_modality["SR"]
    assert sr.SOPClassUID == BASIC_TEXT_SR
    assert sr.StudyInstanceUID == image.StudyInstanceUID
    assert sr.SeriesInstanceUID != image.SeriesInstanceUID
    assert sr.SOPInstanceUID not in (image.SOPInstanceUID, "")
    assert sr.PatientID == image.PatientID
    items = _content(sr)
    assert items["Finding"].TextValue == "pneumonia"
    (reference,) = items["Finding"].ContentSequence
    assert reference.ValueType == "IMAGE" and reference.RelationshipType == "INFERRED FROM"
    assert reference.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    assert float(items["Comment"].TextValue.split()[1]) > 0.99
    assert items["Algorithm Name"].TextValue == "chest" and items["Algorithm Version"].TextValue == "1"
    evidence = sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
    assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == image.SOPInstanceUID
    # Only the destinations of the rule that asked for the document get it.
    assert [ds.Modality for ds in _delivered(runtime, "other")] == ["CT"]
    (path,) = [
        p
        for p in (runtime.settings.destinations_root / "archive").rglob("*.dcm")
        if dcmread(p).Modality == "SR"
    ]
    _dciodvfy(path)


def test_the_document_carries_the_anonymized_identity_the_image_is_sent_with(tmp_path: Path) -> None:
    rt = _runtime(
        tmp_path,
        [{"anonymize": {"profile": "basic"}}, {"infer": {"model": "chest", "emit_sr": True}}],
    )
    try:
        image = _bright_ct()
        path = _spool_dataset(rt, image, tmp_path / "ct.dcm")
        route_instance(rt, message_for_spooled_file(path, source="listener"))
        by_modality = {ds.Modality: ds for ds in _delivered(rt, "archive")}
        sent, sr = by_modality["CT"], by_modality["SR"]
        assert sr.PatientID == sent.PatientID != image.PatientID
        assert sr.PatientName == sent.PatientName and sr.StudyInstanceUID == sent.StudyInstanceUID
        assert sr.PatientIdentityRemoved == "YES"
        reference = _content(sr)["Finding"].ContentSequence[0].ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == sent.SOPInstanceUID
    finally:
        rt.close()


def test_the_engine_asks_for_a_document_only_for_an_ok_result() -> None:
    ruleset = Ruleset.model_validate(_config([{"infer": {"model": "chest", "emit_sr": True}}])["rulesets"][0])
    ds = make_dataset(modality="CT")
    pending = evaluate([ruleset], ds, IngestContext())
    assert pending.reports == () and [s.model for s in pending.infer] == ["chest"]
    ok = InferenceResult(version="1", label="pneumonia", scores={"pneumonia": 0.9})
    plan = evaluate([ruleset], ds, IngestContext(inference={"chest": ok}))
    ((report),) = plan.reports
    assert (report.model, report.result, report.destinations) == ("chest", ok, ("archive",))
    skipped = InferenceResult(status="skipped", version="1")
    assert evaluate([ruleset], ds, IngestContext(inference={"chest": skipped})).reports == ()


def test_the_document_uids_are_the_same_on_a_rerun() -> None:
    ds = make_dataset(modality="CT")
    result = InferenceResult(version="1", label="normal", scores={"normal": 0.7})
    first = finding_report(ds, "chest", result, datetime(2026, 1, 1, tzinfo=UTC))
    again = finding_report(ds, "chest", result, datetime(2026, 1, 2, tzinfo=UTC))
    assert (first.SOPInstanceUID, first.SeriesInstanceUID) == (again.SOPInstanceUID, again.SeriesInstanceUID)
    assert first.SOPInstanceUID.startswith("1.2.826.0.1.3680043.8.498.")
    other = finding_report(ds, "chest", result.model_copy(update={"version": "2"}), datetime.now(UTC))
    assert other.SOPInstanceUID != first.SOPInstanceUID
