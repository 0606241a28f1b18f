"""`infer: {emit_sr: true}` / `{emit_kos: true}` end to end: the finding lands in the destination as a
Basic Text SR or a Key Object Selection document, sent at once by per-instance rules and with the
study by study-complete rules.

Real SQLite, spool, the tiny ONNX brightness classifier on CPU (tests/support/onnx_models.py) and a
filesystem destination; the document is checked with dciodvfy (dicom3tools).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom import Dataset, dcmread

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.ai.report import BASIC_TEXT_SR, KEY_OBJECT_SELECTION, finding_report, key_object
from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.domain.instances import InstanceStatus
from axiom.pipeline.completion import claim_complete_groups, fire_group
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from rules.engine import evaluate
from rules.model import InferenceResult, IngestContext, Ruleset
from tests.factories import make_dataset
from tests.support.onnx_models import write_model
from tests.unit.pipeline.test_route import _spool_dataset


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


def _runtime(tmp_path: Path, actions: list[dict[str, Any]], trigger: dict[str, Any] | None = None) -> Runtime:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False, ai_batch_wait_ms=1)
    settings.ensure_dirs()
    write_model(settings.ai_models_path, "chest", "1")
    upgrade_database(settings.effective_database_url)
    config = _config(actions)
    if trigger is not None:
        config["rulesets"][0]["rules"][0]["trigger"] = trigger
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
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


def _bright_ct(**kwargs: Any) -> Dataset:
    ds = make_dataset(modality="CT", **kwargs)
    ds.RescaleIntercept = 1024  # reads "pneumonia"
    return ds


def _dark_ct(**kwargs: Any) -> Dataset:
    ds = make_dataset(modality="CT", **kwargs)
    ds.RescaleIntercept = -1024  # reads "normal"
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


def _paths(runtime: Runtime, name: str, modality: str) -> list[Path]:
    return [
        p
        for p in sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))
        if dcmread(p).Modality == modality
    ]


def test_a_positive_finding_lands_as_a_valid_key_object_selection(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, [{"infer": {"model": "chest", "emit_kos": True, "kos_labels": ["pneumonia"]}}])
    try:
        bright, dark = _bright_ct(variant=1), _dark_ct(variant=2)
        for ds in (bright, dark):
            path = _spool_dataset(rt, ds, tmp_path / f"{ds.SOPInstanceUID}.dcm")
            outcome = route_instance(rt, message_for_spooled_file(path, source="listener"))
            assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
        # Only the instance whose top label is listed is flagged; both images are delivered.
        assert len(_paths(rt, "archive", "CT")) == 2
        (path,) = _paths(rt, "archive", "KO")
        ko = dcmread(path)
        assert ko.SOPClassUID == KEY_OBJECT_SELECTION
        assert ko.StudyInstanceUID == bright.StudyInstanceUID and ko.PatientID == bright.PatientID
        assert ko.ConceptNameCodeSequence[0].CodeValue == "113000"  # "Of Interest"
        assert ko.ContentTemplateSequence[0].TemplateIdentifier == "2010"
        description, image = ko.ContentSequence
        assert description.ConceptNameCodeSequence[0].CodeValue == "113012"
        assert description.TextValue.startswith("chest 1: pneumonia, score ")
        assert float(description.TextValue.split()[4]) > 0.99
        assert image.ValueType == "IMAGE" and image.RelationshipType == "CONTAINS"
        assert image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == bright.SOPInstanceUID
        evidence = ko.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        assert evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == bright.SOPInstanceUID
        assert [ds.Modality for ds in _delivered(rt, "other")] == ["CT", "CT"]
        _dciodvfy(path)
    finally:
        rt.close()


def test_a_study_complete_rule_sends_the_documents_with_the_study(tmp_path: Path) -> None:
    """The group holds each finding's SR and Key Object and sends them with its images; they do not
    count towards the announced study size (else the group would fire after the first image)."""
    rt = _runtime(
        tmp_path,
        [{"infer": {"model": "chest", "emit_sr": True, "emit_kos": True}}],
        trigger={"level": "study", "quiet_seconds": 600},
    )
    now = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    study = "1.2.826.0.1.3680043.8.498.8801"
    try:
        images = [
            _bright_ct(study_uid=study, sop_instance_uid=f"{study}.1.{i}", instance_number=i) for i in (1, 2)
        ]
        for ds in images:
            ds.NumberOfStudyRelatedInstances = 2
        path = _spool_dataset(rt, images[0], tmp_path / "first.dcm")
        outcome = route_instance(rt, message_for_spooled_file(path, source="listener"), now=now)
        assert outcome is not None and outcome.status == InstanceStatus.WAITING
        assert claim_complete_groups(rt, now + timedelta(seconds=1)) == []
        assert _delivered(rt, "archive") == []  # nothing leaves before the study is complete

        path = _spool_dataset(rt, images[1], tmp_path / "second.dcm")
        route_instance(rt, message_for_spooled_file(path, source="listener"), now=now)
        (group_id,) = claim_complete_groups(rt, now + timedelta(seconds=1))
        assert fire_group(rt, group_id, now + timedelta(seconds=1)).sent == 6

        sent = {(ds.Modality, str(ds.SOPInstanceUID)) for ds in _delivered(rt, "archive")}
        assert {uid for modality, uid in sent if modality == "CT"} == {ds.SOPInstanceUID for ds in images}
        for modality in ("SR", "KO"):
            documents = [ds for ds in _delivered(rt, "archive") if ds.Modality == modality]
            referenced = {
                d.CurrentRequestedProcedureEvidenceSequence[0]
                .ReferencedSeriesSequence[0]
                .ReferencedSOPSequence[0]
                .ReferencedSOPInstanceUID
                for d in documents
            }
            assert referenced == {ds.SOPInstanceUID for ds in images}
        # The per-instance rule's destination got the images only (its rule asked for no document).
        assert sorted(ds.Modality for ds in _delivered(rt, "other")) == ["CT", "CT"]
    finally:
        rt.close()


def test_the_engine_asks_for_a_key_object_only_for_the_listed_labels() -> None:
    action = {"infer": {"model": "chest", "emit_kos": True, "kos_labels": ["pneumonia"]}}
    ruleset = Ruleset.model_validate(_config([action])["rulesets"][0])
    ds = make_dataset(modality="CT")
    positive = InferenceResult(version="1", label="pneumonia", scores={"pneumonia": 0.9})
    ((report),) = evaluate([ruleset], ds, IngestContext(inference={"chest": positive})).reports
    assert (report.kind, report.destinations, report.held_by) == ("ko", ("archive",), ())
    negative = InferenceResult(version="1", label="normal", scores={"normal": 0.9})
    assert evaluate([ruleset], ds, IngestContext(inference={"chest": negative})).reports == ()


def test_sr_and_key_object_of_one_finding_have_their_own_uids() -> None:
    ds = make_dataset(modality="CT")
    result = InferenceResult(version="1", label="normal", scores={"normal": 0.7})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    sr, ko = finding_report(ds, "chest", result, now), key_object(ds, "chest", result, now)
    assert sr.SOPInstanceUID != ko.SOPInstanceUID and sr.SeriesInstanceUID != ko.SeriesInstanceUID
    assert key_object(ds, "chest", result, now).SOPInstanceUID == ko.SOPInstanceUID
