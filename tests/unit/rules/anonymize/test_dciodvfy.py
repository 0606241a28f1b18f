"""dciodvfy (dicom3tools) finds no new error in anonymized output: every profile keeps the IOD valid."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from pydicom import Dataset
from pydicom.sequence import Sequence

from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import profile_names
from rules.anonymize.run import anonymize
from tests.factories import make_dataset
from tests.unit.rules.anonymize.corpus import corpus
from tests.unit.rules.anonymize.phi import SECRET

DCIODVFY = shutil.which("dciodvfy")


def _require_dciodvfy() -> str:
    if DCIODVFY is None:
        if os.environ.get("CI") == "true":
            pytest.fail("dciodvfy is not installed (scripts/test.sh installs dicom3tools)")
        pytest.skip("dciodvfy is not installed (apt-get install dicom3tools)")
    return DCIODVFY


def _errors(binary: str, path: Path) -> set[str]:
    run = subprocess.run([binary, str(path)], capture_output=True, text=True, timeout=60, check=False)
    lines = (run.stdout + run.stderr).splitlines()
    return {line.strip() for line in lines if line.startswith("Error")}


def _ct_with_phi(modality: str) -> Dataset:
    ds = make_dataset(modality=modality)
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "MRN-1"
    ds.OperatorsName = "OPERATOR^ONE"
    ds.InstitutionAddress = "1 Main Street"
    ds.DeviceSerialNumber = "SN-123"
    ds.AcquisitionDate = ds.StudyDate
    ds.AcquisitionTime = ds.StudyTime
    ds.AcquisitionDateTime = ds.StudyDate + ds.StudyTime
    ds.PatientBirthDate = "19400101"
    ds.PatientAge = "084Y"
    ds.PatientWeight = "70"
    other = Dataset()
    other.PatientID = "OTHER-9"
    other.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([other])
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = "1.2.826.0.1.3680043.8.498.99"
    ds.ReferencedImageSequence = Sequence([ref])
    request = Dataset()
    request.RequestedProcedureID = "RP-1"
    request.ScheduledProcedureStepID = "SPS-1"
    ds.RequestAttributesSequence = Sequence([request])
    ds.private_block(0x0009, "ACME 1.0", create=True).add_new(0x01, "LO", "private PHI")
    return ds


@pytest.mark.parametrize("modality", ["CT", "MR", "DX"])
@pytest.mark.parametrize("profile", profile_names())
def test_no_new_errors(tmp_path: Path, modality: str, profile: str) -> None:
    binary = _require_dciodvfy()
    ds = _ct_with_phi(modality)
    before, after = tmp_path / "in.dcm", tmp_path / "out.dcm"
    ds.save_as(before, enforce_file_format=True)
    anonymize(ds, AnonymizeSpec(profile=profile), SECRET).dataset.save_as(after, enforce_file_format=True)
    assert _errors(binary, after) - _errors(binary, before) == set()


# Every shipped profile and the two options that change structure, over real IODs (tests corpus).
CONFIGS = [(name, ()) for name in profile_names()] + [
    ("basic", ("clean-graphics",)),
    ("basic", ("clean-structured-content",)),
]


@pytest.fixture(scope="module")
def corpus_errors(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """dciodvfy's errors on each input of the corpus, once per module."""
    binary = _require_dciodvfy()
    folder = tmp_path_factory.mktemp("corpus-in")
    found = {}
    for name, ds in corpus().items():
        path = folder / f"{name}.dcm"
        ds.save_as(path, enforce_file_format=True)
        found[name] = _errors(binary, path)
    return found


@pytest.mark.parametrize(("profile", "options"), CONFIGS, ids=["+".join((p, *o)) for p, o in CONFIGS])
def test_no_new_errors_on_ct_mr_us_sr_ko_seg_rtstruct(
    tmp_path: Path, corpus_errors: dict[str, set[str]], profile: str, options: tuple[str, ...]
) -> None:
    binary = _require_dciodvfy()
    spec = AnonymizeSpec(profile=profile, options=list(options), allow_burned_in=True)
    new = {}
    for name, ds in corpus().items():
        path = tmp_path / f"{name}.dcm"
        out = anonymize(ds, spec, SECRET).dataset
        out.save_as(path, enforce_file_format=True)
        assert out.PatientIdentityRemoved == "YES"
        new[name] = _errors(binary, path) - corpus_errors[name]
    assert new == {name: set() for name in corpus()}
    assert set(corpus()) == {"CT", "MR", "US", "SR", "KO", "SEG", "RTSTRUCT"}
