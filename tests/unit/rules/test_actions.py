"""Tag edits beyond set/delete: prepend, append, regex_replace, copy, move, private blocks."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydicom import Dataset

from rules.model import Action, Rule
from rules.morph import MorphError, apply_actions


def actions(*specs: dict[str, Any]) -> list[Action]:
    return Rule.model_validate({"name": "r", "actions": list(specs)}).actions


def test_prepend_and_append_on_present_and_absent_tags(ct: Dataset) -> None:
    out = apply_actions(
        ct,
        actions(
            {"prepend": {"tag": "StudyDescription", "value": "EXT: "}},
            {"append": {"tag": "StudyDescription", "value": " [routed]"}},
            {"append": {"tag": "InstitutionName", "value": "Axiom"}},
            {"prepend": {"tag": "PatientID", "value": "SITE1-"}},
        ),
    )
    assert out.StudyDescription == "EXT: CT Head without contrast [routed]"
    assert (out.InstitutionName, out.PatientID) == ("Axiom", "SITE1-PID-0001")
    assert ct.StudyDescription == "CT Head without contrast"


def test_append_result_invalid_for_the_vr_is_a_morph_error(ct: Dataset) -> None:
    with pytest.raises(MorphError, match=r"\(0008,0060\) Modality"):
        apply_actions(ct, actions({"append": {"tag": "Modality", "value": "x"}}))


def test_regex_replace_with_groups_case_and_no_match(ct: Dataset) -> None:
    out = apply_actions(
        ct,
        actions(
            {"regex_replace": {"tag": "PatientID", "pattern": r"^PID-(\d+)$", "replacement": r"P\1"}},
            {
                "regex_replace": {
                    "tag": "StudyDescription",
                    "pattern": "head",
                    "replacement": "HEAD",
                    "ignore_case": True,
                }
            },
            {
                "regex_replace": {
                    "tag": "StudyDescription",
                    "pattern": "(?P<w>with)out",
                    "replacement": r"\g<w>",
                }
            },
            {"regex_replace": {"tag": "BodyPartExamined", "pattern": ".*", "replacement": "X"}},
            {"regex_replace": {"tag": "Modality", "pattern": "MR", "replacement": "xx"}},
        ),
    )
    assert (out.PatientID, out.StudyDescription) == ("P0001", "CT HEAD with contrast")
    assert "BodyPartExamined" not in out  # absent: nothing to rewrite
    assert out.Modality == "CT"  # no match: untouched, so never re-validated


def test_copy_and_move(ct: Dataset) -> None:
    ct.StudyID = "42"
    out = apply_actions(
        ct,
        actions(
            {"copy": {"from": "PatientID", "to": "OtherPatientIDs"}},
            {"move": {"from": "StudyDescription", "to": "SeriesDescription"}},
            {"copy": {"from": "StudyID", "to": "(0009,1001)", "vr": "LO"}},
            {"copy": {"from": "SeriesNumber", "to": "AcquisitionNumber"}},
            {"move": {"from": "BodyPartExamined", "to": "StudyComments"}},
        ),
    )
    assert out.OtherPatientIDs == "PID-0001" and out.PatientID == "PID-0001"
    assert out.SeriesDescription == "CT Head without contrast" and "StudyDescription" not in out
    assert (out[0x00091001].VR, out[0x00091001].value) == ("LO", "42")
    assert out.AcquisitionNumber == 3
    assert "StudyComments" not in out  # absent source: target untouched
    assert "StudyDescription" in ct


def test_copy_of_a_sequence_into_a_text_tag_is_a_morph_error(ct: Dataset) -> None:
    with pytest.raises(MorphError, match="OtherPatientIDsSequence"):
        apply_actions(ct, actions({"copy": {"from": "OtherPatientIDsSequence", "to": "StudyComments"}}))


def test_add_private_block_reuses_or_takes_a_free_block(ct: Dataset) -> None:
    ct.add_new(0x00090010, "LO", "OTHER VENDOR")
    spec = {
        "group": 0x0009,
        "creator": "AXIOM",
        "elements": [{"element": 0x01, "vr": "LO", "value": "routed"}],
    }
    out = apply_actions(ct, actions({"add_private_block": spec}))
    assert out[0x00090011].value == "AXIOM"
    assert out[0x00091101].value == "routed"
    again = apply_actions(
        out, actions({"add_private_block": {**spec, "elements": [{"element": 2, "vr": "US", "value": 7}]}})
    )
    assert again[0x00091102].value == 7 and 0x00090012 not in again
    assert 0x00090011 not in ct


def test_remove_private_block_removes_creator_and_elements_only(ct: Dataset) -> None:
    ct.add_new(0x00090010, "LO", "KEEP ME")
    ct.add_new(0x00091001, "LO", "kept")
    block = ct.private_block(0x0009, "ACME 1.0", create=True)
    block.add_new(0x01, "LO", "gone")
    block.add_new(0xFF, "LO", "gone too")
    before = copy.deepcopy(ct)
    out = apply_actions(ct, actions({"remove_private_block": {"group": 9, "creator": "ACME 1.0"}}))
    assert [e.tag for e in out.group_dataset(0x0009)] == [0x00090010, 0x00091001]
    assert ct == before
    assert apply_actions(out, actions({"remove_private_block": {"group": 9, "creator": "ACME 1.0"}})) == out


def test_actions_apply_in_order(ct: Dataset) -> None:
    out = apply_actions(
        ct,
        actions(
            {"set": {"tag": "StationName", "value": "A"}},
            {"append": {"tag": "StationName", "value": "B"}},
            {"move": {"from": "StationName", "to": "InstitutionalDepartmentName"}},
            {"append": {"tag": "StationName", "value": "C"}},
        ),
    )
    assert (out.InstitutionalDepartmentName, out.StationName) == ("AB", "C")
