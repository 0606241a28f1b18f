"""The Basic Profile on an instance full of PHI: each attribute handled per its Table E.1-1 code,
at the top and two sequence levels down; no identifying string left; the same result every time."""

from __future__ import annotations

import multiprocessing

import pytest
from pydicom import Dataset
from pydicom.dataelem import DataElement

from rules.anonymize.content import CONTENT_ITEM_SEQUENCES
from rules.anonymize.keys import Keys
from rules.anonymize.narrow import iod_types, single_code
from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import resolve
from rules.anonymize.run import anonymize
from tests.factories import FakePatient, make_dataset
from tests.unit.rules.anonymize.phi import (
    NESTED_PATH,
    SECRET,
    SET_AFTERWARDS,
    at,
    element,
    encode,
    phi_dataset,
)

KEYS = Keys(SECRET.encode())
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
NESTED_PARENT = 0x00540410  # PatientOrientationCodeSequence: the sequence the nested copies sit in


CT_TYPES = iod_types(CT_IMAGE_STORAGE)


def _check(original: DataElement, result: Dataset, code: str, parent: int) -> str | None:
    """None when ``result`` shows ``original`` handled per ``code``, else what is wrong."""
    got = element(result, int(original.tag))
    assert CT_TYPES is not None
    attr_type = CT_TYPES.get((parent, int(original.tag)), "3")
    if int(original.tag) in CONTENT_ITEM_SEQUENCES:
        # Content trees are not walked without the option: removed (Type 3) or emptied.
        action = "X" if attr_type == "3" else "Z"
    else:
        action = single_code(code, original, attr_type)
    if action == "X":
        return None if got is None else "not removed"
    if got is None:
        return f"{action}: removed"
    if action == "Z":
        return None if got.is_empty else "not emptied"
    if original.VR == "SQ":
        return None if len(got.value) == len(original.value) else "items lost"
    if action in ("U", "D") and original.VR == "UI":
        return None if got.value == KEYS.uid(str(original.value)) else "UID not remapped"
    if action == "D":
        return None if not got.is_empty and got.value != original.value else "no dummy value"
    if action == "K":
        return None if got.value == original.value else "changed"
    return f"unexpected action {action}"


@pytest.fixture(scope="module")
def result() -> tuple[Dataset, Dataset, object]:
    ds, planted = phi_dataset()
    return ds, anonymize(ds, AnonymizeSpec(profile="basic"), SECRET).dataset, planted


def test_every_listed_attribute_is_handled_per_its_code(result: tuple[Dataset, Dataset, object]) -> None:
    _, out, planted = result
    profile = resolve("basic")
    wrong = {}
    for level, where, elements, parent in (
        ("top", out, planted.top, 0),
        ("nested", at(out, NESTED_PATH), planted.nested, NESTED_PARENT),
    ):
        for tag, original in elements.items():
            if level == "top" and tag in SET_AFTERWARDS:
                continue
            code = profile.code(tag)
            assert code is not None
            problem = _check(original, where, code, parent)
            if problem:
                wrong[f"{level} {original.tag} {original.keyword or ''} {code}"] = problem
    assert wrong == {}
    assert len(planted.top) > 600 and len(planted.nested) > 600


def test_uids_inside_kept_sequences_are_remapped(result: tuple[Dataset, Dataset, object]) -> None:
    ds, out, _ = result
    # ReferencedImageSequence is X/Z/U*: kept, and the UIDs inside follow the same mapping.
    before = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == KEYS.uid(before)
    assert out.SOPInstanceUID == KEYS.uid(ds.SOPInstanceUID) == out.file_meta.MediaStorageSOPInstanceUID
    assert out.SOPInstanceUID.startswith("2.25.") and len(out.SOPInstanceUID) <= 64
    assert out.SOPClassUID == ds.SOPClassUID  # not listed: the structure survives


def test_patient_identity_is_replaced_and_flagged(result: tuple[Dataset, Dataset, object]) -> None:
    ds, out, _ = result
    assert out.PatientID == KEYS.patient_pseudonym("MRN-77-1234")
    assert out.PatientName == out.PatientID + "^"
    assert "OtherPatientIDsSequence" not in out
    assert out.PatientIdentityRemoved == "YES"
    assert out.DeidentificationMethod[0] == "Axiom anonymize basic"
    assert [(i.CodeValue, i.CodingSchemeDesignator) for i in out.DeidentificationMethodCodeSequence] == [
        ("113100", "DCM")
    ]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    # Private attributes, curves and overlays are gone.
    assert not [e for e in out if e.tag.is_private]
    assert not [e for e in out if 0x5000 <= e.tag.group <= 0x60FF]
    # The received dataset is untouched.
    assert ds.PatientID == "MRN-77-1234" and any(e.tag.is_private for e in ds)


def test_no_identifying_string_survives_anywhere_in_the_bytes(
    result: tuple[Dataset, Dataset, object],
) -> None:
    _, out, planted = result
    encoded = encode(out)
    survivors = sorted(m for m in planted.markers if m.encode() in encoded)
    assert survivors == []
    assert len(planted.markers) > 1000


def test_the_same_input_gives_byte_identical_output() -> None:
    ds, _ = phi_dataset()
    first = encode(anonymize(ds, AnonymizeSpec(profile="research-basic"), SECRET).dataset)
    second = encode(anonymize(ds, AnonymizeSpec(profile="research-basic"), SECRET).dataset)
    assert first == second
    other_secret = encode(anonymize(ds, AnonymizeSpec(profile="research-basic"), SECRET + "2").dataset)
    assert other_secret != first


def _one_instance(instance_number: int) -> tuple[str, str, str, str, int | None]:
    """Run in a fresh process: anonymize one instance of a fixed study, report what it became."""
    patient = FakePatient(patient_id="MRN-42", name="ROE^RICHARD", birth_date="19500505", sex="M")
    ds = make_dataset(
        patient=patient,
        study_uid="1.2.826.0.1.3680043.8.498.1",
        series_uid="1.2.826.0.1.3680043.8.498.1.1",
        sop_instance_uid=f"1.2.826.0.1.3680043.8.498.1.1.{instance_number}",
        instance_number=instance_number,
    )
    result = anonymize(ds, AnonymizeSpec(profile="research-basic"), SECRET)
    out = result.dataset
    return (
        out.StudyInstanceUID,
        out.SeriesInstanceUID,
        out.SOPInstanceUID,
        out.PatientID,
        result.pseudonym.date_shift_days,
    )


def test_two_processes_give_one_study_the_same_uids_and_pseudonym() -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        first, second = pool.map(_one_instance, [1, 2])
    assert first[0] == second[0]  # study
    assert first[1] == second[1]  # series
    assert first[2] != second[2]  # each instance its own UID
    assert first[3] == second[3] == KEYS.patient_pseudonym("MRN-42")
    assert first[4] == second[4] is not None
    assert (first, second) == (_one_instance(1), _one_instance(2))  # and the same as in this process
