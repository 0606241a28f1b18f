"""Every condition operator, on single, multi-valued, missing, sequence, private and non-ASCII values."""

from __future__ import annotations

import io
from typing import Any

import pytest
from pydantic import TypeAdapter
from pydicom import Dataset, dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from rules.engine import matches
from rules.model import Condition, IngestContext

_conditions: TypeAdapter[Condition] = TypeAdapter(Condition)


def holds(spec: dict[str, Any], ds: Dataset, ctx: IngestContext | None = None) -> bool:
    return matches(_conditions.validate_python(spec), ds, ctx or IngestContext())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"tag": "Modality", "not_equals": "MR"}, True),
        ({"tag": "Modality", "not_equals": "CT"}, False),
        ({"tag": "Modality", "not_equals": "ct", "ignore_case": True}, False),
        ({"tag": "StudyDescription", "contains": "Head"}, True),
        ({"tag": "StudyDescription", "contains": "head"}, False),
        ({"tag": "StudyDescription", "contains": "HEAD", "ignore_case": True}, True),
        ({"tag": "StudyDescription", "starts_with": "CT "}, True),
        ({"tag": "StudyDescription", "starts_with": "Head"}, False),
        ({"tag": "StudyDescription", "starts_with": "ct h", "ignore_case": True}, True),
        ({"tag": "StudyDescription", "ends_with": "contrast"}, True),
        ({"tag": "StudyDescription", "ends_with": "CONTRAST"}, False),
        ({"tag": "StudyDescription", "ends_with": "CONTRAST", "ignore_case": True}, True),
        ({"tag": "StudyDescription", "wildcard": "CT*contrast"}, True),
        ({"tag": "StudyDescription", "wildcard": "CT*"}, True),
        ({"tag": "StudyDescription", "wildcard": "*Head"}, False),
        ({"tag": "StudyDescription", "wildcard": "ct*CONTRAST", "ignore_case": True}, True),
        ({"tag": "Modality", "wildcard": "C?"}, True),
        ({"tag": "Modality", "wildcard": "C?T"}, False),
        ({"tag": "PatientID", "wildcard": "PID-000?"}, True),
        ({"tag": "PatientID", "wildcard": "PID.0001"}, False),
        ({"tag": "Modality", "in": ["MR", "CT", "PT"]}, True),
        ({"tag": "Modality", "in": ["MR", "PT"]}, False),
        ({"tag": "Modality", "in": ["mr", "ct"], "ignore_case": True}, True),
        ({"tag": "SeriesNumber", "in": [1, 3]}, True),
        ({"tag": "SeriesNumber", "range": {"min": 1, "max": 3}}, True),
        ({"tag": "SeriesNumber", "range": {"min": 3}}, True),
        ({"tag": "SeriesNumber", "range": {"max": 2.5}}, False),
        ({"tag": "SeriesNumber", "range": {"min": 4, "max": 10}}, False),
        ({"tag": "SliceThickness", "range": {"min": 0.5, "max": 1.25}}, True),
        ({"tag": "StudyDate", "after": "20240101"}, True),
        ({"tag": "StudyDate", "after": "2024-03-15"}, False),
        ({"tag": "StudyDate", "before": "20240316"}, True),
        ({"tag": "StudyDate", "before": "20240315"}, False),
        ({"tag": "StudyDate", "between": ["20240315", "20240315"]}, True),
        ({"tag": "StudyDate", "between": ["2024-01-01", "2024-12-31"]}, True),
        ({"tag": "StudyDate", "between": ["20250101", "20251231"]}, False),
        ({"tag": "StudyTime", "after": "07:00"}, True),
        ({"tag": "StudyTime", "between": ["0700", "08:30"]}, True),
        ({"tag": "StudyTime", "before": "081500"}, False),
        ({"tag": "AcquisitionDateTime", "after": "2024-03-15T08:00"}, True),
        ({"tag": "AcquisitionDateTime", "before": "20240315081500"}, False),
        ({"tag": "PatientID", "missing": False}, True),
        ({"tag": "BodyPartExamined", "missing": True}, True),
        ({"tag": "AccessionNumber", "missing": True}, True),
        ({"tag": "PatientID", "missing": True}, False),
    ],
)
def test_operators(spec: dict[str, Any], expected: bool, ct: Dataset) -> None:
    ct.SliceThickness = "1.25"
    ct.StudyDate = "20240315"
    ct.StudyTime = "081500.123"
    ct.AcquisitionDateTime = "20240315081500+0100"
    assert holds(spec, ct) is expected


@pytest.mark.parametrize(
    "operator",
    [
        {"equals": "x"},
        {"not_equals": "x"},
        {"contains": ""},
        {"starts_with": ""},
        {"ends_with": ""},
        {"regex": ".*"},
        {"wildcard": "*"},
        {"in": [""]},
        {"range": {"min": 0}},
        {"after": "19000101"},
    ],
)
def test_value_operators_never_hold_for_an_absent_tag(operator: dict[str, Any]) -> None:
    assert not holds({"tag": "StudyDate", **operator}, Dataset())
    assert holds({"not": {"tag": "StudyDate", **operator}}, Dataset())


def test_multi_valued_text_is_backslash_joined_and_ranges_take_any_value(ct: Dataset) -> None:
    assert holds({"tag": "ImageType", "contains": "PRIMARY"}, ct)
    assert holds({"tag": "ImageType", "starts_with": "ORIGINAL\\"}, ct)
    assert holds({"tag": "ImageType", "wildcard": "*\\AXIAL"}, ct)
    assert not holds({"tag": "ImageType", "in": ["AXIAL"]}, ct)
    ct.PixelSpacing = [0.5, 2.0]
    assert holds({"tag": "PixelSpacing", "range": {"min": 1.5, "max": 3}}, ct)
    assert not holds({"tag": "PixelSpacing", "range": {"min": 3}}, ct)


def test_non_numeric_and_invalid_dates_are_outside_every_range(ct: Dataset) -> None:
    ct.StudyID = "abc"
    with pytest.warns(UserWarning, match="Invalid value for VR DA"):
        ct.StudyDate = "2024"  # not a valid DA: never in a range, not an error
    assert not holds({"tag": "StudyID", "range": {"min": 0}}, ct)
    assert not holds({"tag": "StudyDate", "after": "19000101"}, ct)
    assert holds({"tag": "StudyDate", "exists": True}, ct)


def _referenced(*uids: str) -> Sequence:
    items = []
    for uid in uids:
        item = Dataset()
        item.SeriesInstanceUID = uid
        items.append(item)
    return Sequence(items)


def test_sequence_paths_any_item_and_index(ct: Dataset) -> None:
    ct.ReferencedSeriesSequence = _referenced("1.1", "1.2", "1.3")
    assert holds({"tag": "ReferencedSeriesSequence[*].SeriesInstanceUID", "equals": "1.2"}, ct)
    assert holds({"tag": "ReferencedSeriesSequence.SeriesInstanceUID", "equals": "1.3"}, ct)
    assert not holds({"tag": "ReferencedSeriesSequence[*].SeriesInstanceUID", "equals": "1.4"}, ct)
    assert holds({"tag": "ReferencedSeriesSequence[0].SeriesInstanceUID", "equals": "1.1"}, ct)
    assert not holds({"tag": "ReferencedSeriesSequence[0].SeriesInstanceUID", "equals": "1.2"}, ct)
    assert holds({"tag": "ReferencedSeriesSequence[2].SeriesInstanceUID", "ends_with": ".3"}, ct)
    assert not holds({"tag": "ReferencedSeriesSequence[3].SeriesInstanceUID", "exists": True}, ct)
    assert holds({"tag": "ReferencedSeriesSequence[3].SeriesInstanceUID", "missing": True}, ct)
    assert holds({"tag": "(0008,1115)[1].(0020,000E)", "equals": "1.2"}, ct)
    assert holds({"tag": "OtherPatientIDsSequence[*].PatientID", "starts_with": "OTHER"}, ct)


def test_nested_sequences_to_any_depth(ct: Dataset) -> None:
    inner = Dataset()
    inner.CodeValue = "T-A0100"
    outer = Dataset()
    outer.AnatomicRegionSequence = Sequence([inner])
    ct.ReferencedImageSequence = Sequence([Dataset(), outer])
    path = "ReferencedImageSequence[*].AnatomicRegionSequence[*].CodeValue"
    assert holds({"tag": path, "equals": "T-A0100"}, ct)
    assert not holds({"tag": path.replace("[*]", "[0]", 1), "exists": True}, ct)


def _with_private(ds: Dataset) -> Dataset:
    # The ACME block sits at 0x11 here, not 0x10: the creator, not the number, finds it.
    ds.add_new(0x00090010, "LO", "OTHER VENDOR")
    ds.add_new(0x00091010, "LO", "not ours")
    block = ds.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x10, "LO", "SCANNER-7")
    block.add_new(0x11, "SH", "RESEARCH")
    return ds


def test_private_tags_by_creator_mapping_and_string(ct: Dataset) -> None:
    ds = _with_private(ct)
    assert ds[0x00091110].value == "SCANNER-7"
    spec = {"group": 0x0009, "creator": "ACME 1.0", "element": 0x10}
    assert holds({"private": spec, "equals": "SCANNER-7"}, ds)
    assert holds({"private": {**spec, "element": 0x1010}, "equals": "SCANNER-7"}, ds)
    assert holds({"tag": '(0009,"ACME 1.0",11)', "equals": "RESEARCH"}, ds)
    assert holds({"tag": '(0009,"OTHER VENDOR",10)', "equals": "not ours"}, ds)
    assert not holds({"tag": '(0009,"ACME 1.0",12)', "exists": True}, ds)
    assert holds({"tag": '(0009,"NOBODY",10)', "missing": True}, ds)
    assert holds({"tag": "(0009,1110)", "contains": "SCANNER"}, ds)


def test_private_tags_inside_sequence_items(ct: Dataset) -> None:
    item = _with_private(Dataset())
    ct.ReferencedSeriesSequence = Sequence([item])
    assert holds({"tag": 'ReferencedSeriesSequence[*].(0009,"ACME 1.0",10)', "equals": "SCANNER-7"}, ct)


def _reread(ds: Dataset) -> Dataset:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return dcmread(io.BytesIO(buffer.getvalue()))


@pytest.mark.parametrize("charset", ["ISO_IR 192", "ISO_IR 100"])
def test_non_ascii_values_decoded_with_the_specific_character_set(ct: Dataset, charset: str) -> None:
    ct.SpecificCharacterSet = charset
    ct.PatientName = "Müller^Jürgen"
    ct.InstitutionName = "Hôpital Saint-Éloi"
    item = Dataset()
    item.InstitutionName = "Klinikum Süd"
    ct.ReferencedSeriesSequence = Sequence([item])
    ds = _reread(ct)
    assert holds({"tag": "PatientName", "equals": "Müller^Jürgen"}, ds)
    assert holds({"tag": "PatientName", "starts_with": "MÜLLER", "ignore_case": True}, ds)
    assert holds({"tag": "InstitutionName", "regex": r"^H.pital Saint-\wloi$"}, ds)
    assert holds({"tag": "InstitutionName", "wildcard": "hôpital*éloi", "ignore_case": True}, ds)
    assert holds({"tag": "ReferencedSeriesSequence[0].InstitutionName", "contains": "Süd"}, ds)
    assert not holds({"tag": "PatientName", "equals": "Muller^Jurgen"}, ds)


def test_ignore_case_uses_full_case_folding(ct: Dataset) -> None:
    ct.InstitutionName = "STRASSE"
    assert holds({"tag": "InstitutionName", "equals": "straße", "ignore_case": True}, ct)


def test_context_conditions() -> None:
    ctx = IngestContext(
        calling_ae="CT_SCANNER_2", called_ae="AXIOM", source="stowrs", series_instance_count=12
    )
    ds = Dataset()
    assert holds({"context": "calling_ae", "equals": "CT_SCANNER_2"}, ds, ctx)
    assert holds({"context": "calling_ae", "wildcard": "CT_*"}, ds, ctx)
    assert holds({"context": "calling_ae", "starts_with": "ct_", "ignore_case": True}, ds, ctx)
    assert not holds({"context": "called_ae", "not_equals": "AXIOM"}, ds, ctx)
    assert holds({"context": "source", "in": ["listener", "stowrs"]}, ds, ctx)
    assert not holds({"context": "source", "equals": "listener"}, ds, ctx)
    assert holds({"context": "series_instance_count", "range": {"min": 10}}, ds, ctx)
    assert not holds({"context": "series_instance_count", "range": {"max": 11}}, ds, ctx)
    assert holds({"context": "series_instance_count", "equals": 12}, ds, ctx)
    poller = IngestContext(source="nightly-pacs-pull")
    assert holds({"context": "source", "regex": "^nightly-"}, ds, poller)


def test_all_any_not_combine_tag_and_context_conditions_to_any_depth(ct: Dataset) -> None:
    ctx = IngestContext(calling_ae="CT1")
    spec = {
        "all": [
            {"context": "calling_ae", "equals": "CT1"},
            {
                "not": {
                    "any": [
                        {"tag": "Modality", "equals": "MR"},
                        {"not": {"tag": "PatientID", "exists": True}},
                    ]
                }
            },
            {
                "any": [
                    {"all": [{"tag": "SeriesNumber", "range": {"min": 2}}, {"tag": "Modality", "in": ["CT"]}]}
                ]
            },
        ]
    }
    assert holds(spec, ct, ctx)
    assert not holds(spec, ct, IngestContext(calling_ae="CT2"))
