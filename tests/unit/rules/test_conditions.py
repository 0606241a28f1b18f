from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter
from pydicom import Dataset

from rules.engine import compile_pattern, matches
from rules.model import Condition, IngestContext

_conditions: TypeAdapter[Condition] = TypeAdapter(Condition)


def holds(spec: dict[str, Any], ds: Dataset, ctx: IngestContext) -> bool:
    return matches(_conditions.validate_python(spec), ds, ctx)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"tag": "Modality", "equals": "CT"}, True),
        ({"tag": "Modality", "equals": "MR"}, False),
        ({"tag": "Modality", "equals": "ct"}, False),
        ({"tag": "Modality", "equals": "ct", "ignore_case": True}, True),
        ({"tag": "(0008,0060)", "equals": "CT"}, True),
        ({"tag": "00080060", "equals": "CT"}, True),
        ({"tag": "SeriesNumber", "equals": 3}, True),
        ({"tag": "PatientName", "equals": "Doe^John"}, True),
        ({"tag": "PatientName", "equals": "DOE^JOHN", "ignore_case": True}, True),
    ],
)
def test_equals(spec: dict[str, Any], expected: bool, ct: Dataset, ctx: IngestContext) -> None:
    assert holds(spec, ct, ctx) is expected


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"tag": "StudyDescription", "regex": "Head"}, True),
        ({"tag": "StudyDescription", "regex": "^Head"}, False),
        ({"tag": "StudyDescription", "regex": "HEAD"}, False),
        ({"tag": "StudyDescription", "regex": "HEAD", "ignore_case": True}, True),
        ({"tag": "StudyDescription", "regex": "^CT .* contrast$"}, True),
    ],
)
def test_regex_searches_the_value(
    spec: dict[str, Any], expected: bool, ct: Dataset, ctx: IngestContext
) -> None:
    assert holds(spec, ct, ctx) is expected


def test_multi_valued_compare_as_backslash_joined_text(ct: Dataset, ctx: IngestContext) -> None:
    assert holds({"tag": "ImageType", "equals": "ORIGINAL\\PRIMARY\\AXIAL"}, ct, ctx)
    assert not holds({"tag": "ImageType", "equals": "AXIAL"}, ct, ctx)
    assert holds({"tag": "ImageType", "regex": r"(^|\\)AXIAL(\\|$)"}, ct, ctx)
    assert not holds({"tag": "ImageType", "regex": r"(^|\\)LOCALIZER(\\|$)"}, ct, ctx)


def test_missing_tag_never_equals_or_matches(ct: Dataset, ctx: IngestContext) -> None:
    assert not holds({"tag": "BodyPartExamined", "equals": ""}, ct, ctx)
    assert not holds({"tag": "BodyPartExamined", "regex": ".*"}, ct, ctx)
    assert holds({"tag": "BodyPartExamined", "exists": False}, ct, ctx)
    assert not holds({"tag": "BodyPartExamined", "exists": True}, ct, ctx)


def test_empty_element_equals_empty_text_but_does_not_exist(ct: Dataset, ctx: IngestContext) -> None:
    assert holds({"tag": "AccessionNumber", "equals": ""}, ct, ctx)
    assert not holds({"tag": "AccessionNumber", "exists": True}, ct, ctx)
    assert holds({"tag": "AccessionNumber", "exists": False}, ct, ctx)


def test_exists_on_present_values_and_sequences(ct: Dataset, ctx: IngestContext) -> None:
    assert holds({"tag": "PatientID", "exists": True}, ct, ctx)
    assert holds({"tag": "OtherPatientIDsSequence", "exists": True}, ct, ctx)
    assert not holds({"tag": "OtherPatientIDsSequence", "equals": ""}, ct, ctx)


def test_all_any_not_nest(ct: Dataset, ctx: IngestContext) -> None:
    is_ct = {"tag": "Modality", "equals": "CT"}
    is_mr = {"tag": "Modality", "equals": "MR"}
    head = {"tag": "StudyDescription", "regex": "head", "ignore_case": True}
    assert holds({"all": [is_ct, head]}, ct, ctx)
    assert not holds({"all": [is_mr, head]}, ct, ctx)
    assert holds({"any": [is_mr, head]}, ct, ctx)
    assert not holds({"any": [is_mr, {"not": head}]}, ct, ctx)
    assert holds({"not": is_mr}, ct, ctx)
    assert not holds({"not": {"not": is_mr}}, ct, ctx)
    nested = {
        "all": [{"any": [is_mr, {"all": [is_ct, head]}]}, {"not": {"tag": "PatientID", "exists": False}}]
    }
    assert holds(nested, ct, ctx)
    ct.PatientID = ""
    assert not holds(nested, ct, ctx)


def test_regex_is_compiled_once_per_pattern(ct: Dataset, ctx: IngestContext) -> None:
    condition = _conditions.validate_python({"tag": "StudyDescription", "regex": "unique-pattern-7f3a"})
    compile_pattern.cache_clear()
    for _ in range(50):
        matches(condition, ct, ctx)
    info = compile_pattern.cache_info()
    assert (info.misses, info.hits) == (1, 49)
