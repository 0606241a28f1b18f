"""Each Annex E option changes exactly the attributes whose code it changes in Table E.1-1, and
does what its name says to them."""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from pydicom import Dataset

from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.profiles import OPTION_NAMES, ResolvedProfile, resolve
from rules.anonymize.run import AnonymizeResult, anonymize
from rules.anonymize.values import shift_value
from tests.unit.rules.anonymize.phi import SECRET, phi_dataset

# Written by every profile, differently per option set.
METHOD_TAGS = {0x00120063, 0x00120064, 0x00280303}


def _leaves(ds: Dataset, path: tuple[int, ...] = ()) -> dict[tuple[int, ...], Any]:
    found: dict[tuple[int, ...], Any] = {}
    for elem in ds:
        here = (*path, int(elem.tag))
        if elem.VR == "SQ":
            found[here] = len(elem.value)
            for index, item in enumerate(elem.value):
                found.update(_leaves(item, (*here, -1 - index)))
        else:
            found[here] = elem.value if not isinstance(elem.value, bytes) else elem.value.hex()
    return found


@cache
def _run(options: tuple[str, ...]) -> tuple[Dataset, AnonymizeResult]:
    ds, _ = phi_dataset()
    return ds, anonymize(ds, AnonymizeSpec(profile="basic", options=list(options)), SECRET)


def _changed_by(option: str) -> set[tuple[int, ...]]:
    basic = _leaves(_run(())[1].dataset)
    other = _leaves(_run((option,))[1].dataset)
    return {key for key in basic.keys() | other.keys() if basic.get(key) != other.get(key)}


def _option_touches(basic: ResolvedProfile, with_option: ResolvedProfile, tag: int) -> bool:
    if tag in METHOD_TAGS:
        return True
    if (tag >> 16) % 2 == 1:
        return basic.private_code != with_option.private_code
    return basic.code(tag) != with_option.code(tag)


@pytest.mark.parametrize("option", OPTION_NAMES)
def test_an_option_changes_only_what_its_column_names(option: str) -> None:
    basic, with_option = resolve("basic"), resolve("basic", (option,))
    changed = _changed_by(option)
    unexplained = sorted(
        key for key in changed if not any(_option_touches(basic, with_option, t) for t in key if t >= 0)
    )
    assert unexplained == []
    # And it changes something beyond the method description.
    assert {key for key in changed if key[0] not in METHOD_TAGS}


@pytest.mark.parametrize("option", OPTION_NAMES)
def test_the_method_code_sequence_names_the_option(option: str) -> None:
    out = _run((option,))[1].dataset
    codes = [item.CodeValue for item in out.DeidentificationMethodCodeSequence]
    assert codes[0] == "113100" and len(codes) == 2
    assert codes[1] == resolve("basic", (option,)).method_codes[1][0]


def test_retain_uids() -> None:
    ds, result = _run(("retain-uids",))
    assert result.dataset.StudyInstanceUID == ds.StudyInstanceUID
    assert result.dataset.SOPInstanceUID == ds.SOPInstanceUID


def test_retain_device_and_institution_identity() -> None:
    ds, result = _run(("retain-device-identity",))
    assert result.dataset.StationName == ds.StationName
    assert result.dataset.DeviceSerialNumber == ds.DeviceSerialNumber
    ds, result = _run(("retain-institution-identity",))
    assert result.dataset.InstitutionName == ds.InstitutionName
    assert "InstitutionName" not in _run(())[1].dataset  # X/Z/D, Type 3 in the CT IOD: removed


def test_retain_patient_characteristics() -> None:
    ds, result = _run(("retain-patient-characteristics",))
    for keyword in ("PatientSex", "PatientAge", "PatientSize", "PatientWeight", "EthnicGroup"):
        assert result.dataset[keyword].value == ds[keyword].value, keyword
    assert "PatientBirthDate" not in result.dataset or result.dataset.PatientBirthDate in ("", None)


def test_full_dates_keep_and_modified_dates_shift_every_date() -> None:
    ds, full = _run(("retain-longitudinal-full-dates",))
    assert full.dataset.StudyDate == ds.StudyDate
    assert full.dataset.AcquisitionDateTime == ds.AcquisitionDateTime
    assert full.dataset.LongitudinalTemporalInformationModified == "UNMODIFIED"
    ds, modified = _run(("retain-longitudinal-modified-dates",))
    days = modified.pseudonym.date_shift_days
    assert days is not None and -365 <= days < 0
    assert modified.dataset.StudyDate == shift_value("DA", ds.StudyDate, days) != ds.StudyDate
    assert modified.dataset.AcquisitionDateTime[8:] == ds.AcquisitionDateTime[8:]  # time kept
    assert modified.dataset.AcquisitionDateTime[:8] == shift_value("DA", ds.AcquisitionDateTime[:8], days)
    assert modified.dataset.LongitudinalTemporalInformationModified == "MODIFIED"


def test_clean_descriptors_keeps_the_text_without_the_identity() -> None:
    _, result = _run(("clean-descriptors",))
    description = result.dataset.StudyDescription
    assert description.startswith("CT CHEST")
    for identifying in ("DOE", "JANE", "MRN-77-1234"):
        assert identifying not in description
    assert "StudyDescription" not in _run(())[1].dataset


def test_clean_structured_content_and_graphics_keep_the_sequences() -> None:
    _, result = _run(("clean-structured-content",))
    assert len(result.dataset.ContentSequence) == 1
    assert len(result.dataset.AcquisitionContextSequence) == 1
    _, graphics = _run(("clean-graphics",))
    assert len(graphics.dataset.GraphicAnnotationSequence) == 1
    # The overlay carries its bitmap, which cannot be cleaned: the whole group goes with it.
    assert not [e for e in graphics.dataset if e.tag.group == 0x6000]


def test_retain_safe_private_keeps_only_the_safe_list() -> None:
    _, result = _run(("retain-safe-private",))
    out = result.dataset
    assert out.private_block(0x0019, "SIEMENS MR HEADER")[0x0C].value == "1000"
    with pytest.raises(KeyError):
        out.private_block(0x0009, "ACME PHI 1.0")
    assert [int(e.tag) for e in out if e.tag.is_private] == [0x00190010, 0x0019100C]
