from __future__ import annotations

import pytest
from pydicom import Dataset
from pydicom.tag import Tag

from rules.tags import dataset_text, dictionary_vr, make_element, parse_tag, tag_label


@pytest.mark.parametrize("text", ["Modality", "(0008,0060)", "(0008, 0060)", "00080060", " Modality "])
def test_parse_tag_accepts_keyword_and_both_number_forms(text: str) -> None:
    assert parse_tag(text) == Tag(0x0008, 0x0060)


def test_parse_tag_reads_private_and_lowercase_hex() -> None:
    assert parse_tag("(0009,10ab)") == Tag(0x0009, 0x10AB)
    assert parse_tag("000910AB") == Tag(0x0009, 0x10AB)


def test_unknown_keyword_suggests_the_closest() -> None:
    with pytest.raises(ValueError, match=r"unknown DICOM keyword 'PatientNmae'.*did you mean 'PatientName'"):
        parse_tag("PatientNmae")


@pytest.mark.parametrize("text", ["", "(0008,006)", "0008006G", "modality-x"])
def test_malformed_tags_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_tag(text)


def test_tag_label_names_number_and_keyword() -> None:
    assert tag_label(Tag(0x00080060)) == "(0008,0060) Modality"
    assert tag_label(Tag(0x00091001)) == "(0009,1001)"


def test_dictionary_vr() -> None:
    assert dictionary_vr(Tag(0x00080060)) == "CS"
    assert dictionary_vr(Tag(0x00091001)) is None


def test_dataset_text_forms(ct: Dataset) -> None:
    assert dataset_text(ct, parse_tag("Modality")) == "CT"
    assert dataset_text(ct, parse_tag("ImageType")) == "ORIGINAL\\PRIMARY\\AXIAL"
    assert dataset_text(ct, parse_tag("PatientName")) == "Doe^John"
    assert dataset_text(ct, parse_tag("SeriesNumber")) == "3"
    assert dataset_text(ct, parse_tag("AccessionNumber")) == ""
    assert dataset_text(ct, parse_tag("BodyPartExamined")) is None
    assert dataset_text(ct, parse_tag("OtherPatientIDsSequence")) is None


def test_dataset_text_of_binary_is_none() -> None:
    ds = Dataset()
    ds.add_new(0x7FE00010, "OB", b"\x00\x01")
    assert dataset_text(ds, Tag(0x7FE00010)) is None


def test_make_element_converts_by_vr() -> None:
    assert make_element(parse_tag("Rows"), "US", "512").value == 512
    assert list(make_element(parse_tag("PixelSpacing"), "DS", "0.5\\0.25").value) == [0.5, 0.25]
    assert list(make_element(parse_tag("ImageType"), "CS", "DERIVED\\SECONDARY").value) == [
        "DERIVED",
        "SECONDARY",
    ]
    assert make_element(parse_tag("StudyDate"), "DA", "").is_empty
    assert make_element(parse_tag("FrameIncrementPointer"), "AT", "FrameTime").value == Tag(0x00181063)


@pytest.mark.parametrize(
    ("tag", "vr", "text"),
    [
        ("StudyDate", "DA", "20241399"),
        ("Rows", "US", "70000"),
        ("Rows", "US", "many"),
        ("Modality", "CS", "ct"),
    ],
)
def test_make_element_refuses_invalid_values_without_echoing_them(tag: str, vr: str, text: str) -> None:
    with pytest.raises(ValueError, match=f"not valid for .* {tag} \\(VR {vr}\\)") as info:
        make_element(parse_tag(tag), vr, text)
    assert text not in str(info.value)


def test_make_element_refuses_non_text_vrs() -> None:
    with pytest.raises(ValueError, match="cannot be set from text"):
        make_element(parse_tag("PixelData"), "OB", "00")
    with pytest.raises(ValueError, match="unknown VR"):
        make_element(parse_tag("Modality"), "XX", "CT")
