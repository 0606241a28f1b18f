from __future__ import annotations

import copy
import io
from typing import Any

import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.dataelem import RawDataElement

from rules.model import Action, Rule, SetAction, SetSpec
from rules.morph import MorphError, apply_actions


def actions(*specs: dict[str, Any]) -> list[Action]:
    return Rule.model_validate({"name": "r", "actions": list(specs)}).actions


def encoded(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer)
    return buffer.getvalue()


@pytest.fixture
def ct_file() -> Dataset:
    path = get_testdata_file("CT_small.dcm")
    assert isinstance(path, str)
    return dcmread(path)


def test_no_actions_returns_the_same_object(ct: Dataset) -> None:
    assert apply_actions(ct, []) is ct
    assert apply_actions(ct, ()) is ct


def test_set_and_delete_change_only_the_copy(ct: Dataset) -> None:
    before = copy.deepcopy(ct)
    out = apply_actions(
        ct,
        actions(
            {"set": {"tag": "InstitutionName", "value": "Axiom"}},
            {"set": {"tag": "Modality", "value": "MR"}},
            {"delete": {"tag": "PatientName"}},
        ),
    )
    assert out is not ct
    assert (out.InstitutionName, out.Modality, "PatientName" in out) == ("Axiom", "MR", False)
    assert ct == before
    assert "InstitutionName" not in ct


def test_set_uses_dictionary_vr_and_splits_multiple_values(ct: Dataset) -> None:
    out = apply_actions(
        ct,
        actions(
            {"set": {"tag": "ImageType", "value": "DERIVED\\SECONDARY"}},
            {"set": {"tag": "Rows", "value": "256"}},
            {"set": {"tag": "PixelSpacing", "value": "0.5\\0.5"}},
            {"set": {"tag": "StudyDate", "value": ""}},
        ),
    )
    assert out["ImageType"].VR == "CS" and list(out.ImageType) == ["DERIVED", "SECONDARY"]
    assert out["Rows"].VR == "US" and out.Rows == 256
    assert [float(v) for v in out.PixelSpacing] == [0.5, 0.5]
    assert out["StudyDate"].is_empty
    assert list(ct.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]


def test_set_private_tag_with_given_vr(ct: Dataset) -> None:
    out = apply_actions(
        ct,
        actions(
            {"set": {"tag": "(0009,0010)", "vr": "LO", "value": "AXIOM"}},
            {"set": {"tag": "00091001", "vr": "LO", "value": "routed"}},
        ),
    )
    assert out[0x00091001].VR == "LO"
    assert out[0x00091001].value == "routed"
    assert out[0x00091001].private_creator == "AXIOM"
    assert 0x00091001 not in ct


def test_delete_of_missing_tag_is_a_no_op(ct: Dataset) -> None:
    out = apply_actions(ct, actions({"delete": {"tag": "BodyPartExamined"}}))
    assert out == ct
    assert out is not ct


def test_value_containers_and_sequences_are_independent(ct: Dataset) -> None:
    out = apply_actions(ct, actions({"set": {"tag": "StationName", "value": "S1"}}))
    out.ImageType[2] = "HELICAL"
    assert list(ct.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    out.OtherPatientIDsSequence[0].PatientID = "CHANGED"
    assert ct.OtherPatientIDsSequence[0].PatientID == "OTHER-1"


def test_file_dataset_copy_keeps_meta_shares_pixels_and_leaves_file_untouched(ct_file: Dataset) -> None:
    original_bytes = encoded(ct_file)
    pixels = ct_file.PixelData
    out = apply_actions(
        ct_file,
        actions({"set": {"tag": "InstitutionName", "value": "Axiom"}}, {"delete": {"tag": "PatientID"}}),
    )
    assert type(out) is type(ct_file)
    assert out.file_meta == ct_file.file_meta
    assert out.file_meta is not ct_file.file_meta
    assert out.PixelData is pixels
    assert encoded(ct_file) == original_bytes
    reread = dcmread(io.BytesIO(encoded(out)))
    assert reread.InstitutionName == "Axiom"
    assert "PatientID" not in reread
    assert reread.PixelData == pixels
    out.file_meta.ImplementationVersionName = "CHANGED"
    assert ct_file.file_meta.get("ImplementationVersionName") != "CHANGED"


def test_unparsed_elements_of_the_input_stay_unparsed(ct_file: Dataset) -> None:
    raw_before = {tag for tag, elem in ct_file._dict.items() if isinstance(elem, RawDataElement)}
    assert len(raw_before) > 10
    out = apply_actions(ct_file, actions({"set": {"tag": "InstitutionName", "value": "Axiom"}}))
    raw_after = {tag for tag, elem in ct_file._dict.items() if isinstance(elem, RawDataElement)}
    assert raw_after == raw_before
    assert out.StudyDate == ct_file.StudyDate


def test_invalid_value_raises_morph_error_naming_tag_not_value(ct: Dataset) -> None:
    # Loading refuses such a value; model_construct skips that check to reach the morph-time guard.
    bad = SetAction.model_construct(set=SetSpec.model_construct(tag="StudyDate", value="31/12/2024", vr=None))
    with pytest.raises(MorphError, match=r"\(0008,0020\) StudyDate.*VR DA") as info:
        apply_actions(ct, [bad])
    assert "31/12/2024" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__
    assert "StudyDate" not in ct
