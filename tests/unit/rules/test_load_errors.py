"""Mistakes in rules are refused when loaded, with the field path and a reason, never the value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from rules.model import IngestContext, Rule, Ruleset


def errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate({"name": "r", **spec})
    return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in info.value.errors()]


def only(spec: dict[str, Any]) -> tuple[str, str]:
    found = errors(spec)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("when", "loc", "fragment"),
    [
        ({"tag": "StudyDescription", "regex": "a[b"}, "when.tag.regex", "invalid regular expression"),
        ({"tag": "StudyDescription", "wildcard": "x", "regex": "y"}, "when.tag", "found: regex, wildcard"),
        (
            {"tag": "ReferencedSeriesSequence[*].SeriesInstanceUIDD", "equals": "1"},
            "when.tag.tag",
            "did you mean",
        ),
        ({"tag": "Modality[0].PatientID", "equals": "1"}, "when.tag.tag", "not a sequence"),
        (
            {"tag": "ReferencedSeriesSequence[0]", "exists": True},
            "when.tag.tag",
            "index belongs after a sequence",
        ),
        ({"tag": "Modality..X", "equals": "1"}, "when.tag.tag", "cannot read the tag path"),
        ({"tag": '(0008,"ACME",10)', "equals": "1"}, "when.tag.tag", "must be odd"),
        (
            {"private": {"group": 9, "creator": "", "element": 16}, "equals": "1"},
            "when.tag.private",
            "creator",
        ),
        (
            {"private": {"group": 9, "creator": "A", "element": 0x200}, "equals": "1"},
            "when.tag.private",
            "offset",
        ),
        (
            {"tag": "Modality", "private": {"group": 9, "creator": "A", "element": 1}, "equals": "1"},
            "when.tag",
            "either",
        ),
        ({"tag": "Modality", "in": "CT"}, "when.tag.in", "valid list"),
        ({"tag": "Modality", "in": []}, "when.tag.in", "at least 1"),
        ({"tag": "SeriesNumber", "range": {"min": "many"}}, "when.tag.range.min", "valid number"),
        ({"tag": "SeriesNumber", "range": {}}, "when.tag.range", "min, max or both"),
        ({"tag": "SeriesNumber", "range": {"min": 5, "max": 1}}, "when.tag.range", "greater than max"),
        ({"tag": "Modality", "after": "20240101"}, "when.tag", "has VR CS"),
        ({"tag": "StudyDate", "after": "yesterday"}, "when.tag", "not a valid DA"),
        ({"tag": "StudyDate", "between": ["20240101"]}, "when.tag.between", "at least 2"),
        ({"tag": "StudyDate", "between": ["20241231", "20240101"]}, "when.tag", "later than the second"),
        ({"tag": "StudyTime", "before": "25:00"}, "when.tag", "not a valid TM"),
        ({"tag": "AcquisitionDateTime", "after": "2024"}, "when.tag", "full date"),
        ({"tag": "Modality", "exists": "perhaps"}, "when.tag.exists", "valid boolean"),
        ({"tag": "Modality", "range": {"min": 1}, "ignore_case": True}, "when.tag", "ignore_case applies"),
        ({"context": "calling_ae", "range": {"min": 1}}, "when.context", "is text"),
        ({"context": "series_instance_count", "contains": "1"}, "when.context", "takes equals"),
        ({"context": "source", "exists": True}, "when.context", "always present"),
        ({"context": "station", "equals": "x"}, "when.context.context", "Input should be"),
        (
            {"any": [{"tag": "Modality", "equals": "CT"}, {"all": [{"not": {"tag": "X1", "equals": "1"}}]}]},
            "when.any.any.1.all.all.0.not.not.tag.tag",
            "unknown DICOM keyword",
        ),
    ],
)
def test_condition_errors_name_the_field(when: dict[str, Any], loc: str, fragment: str) -> None:
    where, message = only({"when": when})
    assert (where, fragment in message) == (loc, True), message


@pytest.mark.parametrize(
    ("action", "loc", "fragment"),
    [
        (
            {"prepend": {"tag": "PixelData", "value": "x"}},
            "actions.0.prepend.prepend",
            "cannot be set from text",
        ),
        ({"append": {"tag": "InstitutionName", "value": ""}}, "actions.0.append.append.value", "at least 1"),
        (
            {"regex_replace": {"tag": "PatientID", "pattern": "(a", "replacement": ""}},
            "actions.0.regex_replace.regex_replace.pattern",
            "invalid regular expression",
        ),
        (
            {"regex_replace": {"tag": "PatientID", "pattern": "(a)", "replacement": "\\2"}},
            "actions.0.regex_replace.regex_replace",
            "replacement does not fit",
        ),
        (
            {"regex_replace": {"tag": "PatientID", "pattern": "(?P<x>a)", "replacement": "\\g<y>"}},
            "actions.0.regex_replace.regex_replace",
            "replacement does not fit",
        ),
        ({"copy": {"from": "PatientID", "to": "PatientID"}}, "actions.0.copy.copy", "same tag"),
        ({"move": {"from": "PatientID", "to": "(0009,1001)"}}, "actions.0.move.move", "give its vr"),
        ({"copy": {"from": "PatientID", "to": "TransferSyntaxUID"}}, "actions.0.copy.copy.to", "file meta"),
        (
            {"crosswalk": {"table": "mrn", "tag": "PatientID", "on_missing": "default"}},
            "actions.0.crosswalk.crosswalk",
            "default is required",
        ),
        (
            {"crosswalk": {"table": "mrn", "tag": "PatientID", "on_missing": "ignore"}},
            "actions.0.crosswalk.crosswalk.on_missing",
            "'keep', 'default' or 'quarantine'",
        ),
        (
            {"crosswalk": {"table": "d", "tag": "StudyDate", "on_missing": "default", "default": "today"}},
            "actions.0.crosswalk.crosswalk",
            "not valid for (0008,0020) StudyDate",
        ),
        (
            {"add_private_block": {"group": 8, "creator": "AXIOM"}},
            "actions.0.add_private_block.add_private_block",
            "odd",
        ),
        (
            {
                "add_private_block": {
                    "group": 9,
                    "creator": "AXIOM",
                    "elements": [{"element": 1, "vr": "US", "value": "x"}],
                }
            },
            "actions.0.add_private_block.add_private_block",
            "not valid",
        ),
        (
            {"remove_private_block": {"group": 9, "creator": " "}},
            "actions.0.remove_private_block.remove_private_block",
            "creator",
        ),
        ({"quarantine": {"reason": ""}}, "actions.0.quarantine.quarantine.reason", "at least 1"),
        ({"drop": {}}, "actions.0.drop.drop.reason", "Field required"),
        ({"pseudonymise": {"profile": "basic"}}, "actions.0", "one key: set, delete"),
        (
            {"anonymize": {"profile": "nope"}},
            "actions.0.anonymize.anonymize.profile",
            "unknown anonymization",
        ),
        (
            {"anonymize": {"options": ["retain-everything"]}},
            "actions.0.anonymize.anonymize.options.0",
            "retain-safe-private",
        ),
        (
            {"anonymize": {"overrides": {"PatientAge": "KEEP"}}},
            "actions.0.anonymize.anonymize.overrides.PatientAge",
            "'K'",
        ),
        (
            {"anonymize": {"overrides": {"PatientAeg": "K"}}},
            "actions.0.anonymize.anonymize.overrides",
            "did you mean",
        ),
        (
            {
                "anonymize": {
                    "options": ["retain-longitudinal-full-dates", "retain-longitudinal-modified-dates"]
                }
            },
            "actions.0.anonymize.anonymize",
            "exclude each other",
        ),
    ],
)
def test_action_errors_name_the_field(action: dict[str, Any], loc: str, fragment: str) -> None:
    where, message = only({"actions": [action]})
    assert (where, fragment in message) == (loc, True), message


def test_destination_priorities_are_checked() -> None:
    where, message = only({"destinations": ["a", {"name": "b", "priority": "urgent"}]})
    assert "priority" in where and "'high', 'default' or 'low'" in message
    where, message = only({"destinations": ["a"], "priorities": {"b": "high"}})
    assert "does not route to: b" in message


@pytest.mark.parametrize(
    ("schedule", "fragment"),
    [
        ({"timezone": "Mars/Olympus", "windows": [{}]}, "unknown time zone"),
        ({"windows": []}, "at least 1"),
        ({"windows": [{"days": ["monday"]}]}, "'mon'"),
        ({"windows": [{"start": 450}]}, "write times in quotes"),
        ({"windows": [{"start": "7:30"}]}, "HH:MM"),
        ({"windows": [{"start": "08:00", "end": "08:00"}]}, "the same time"),
    ],
)
def test_schedule_errors(schedule: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        Ruleset.model_validate({"name": "rs", "schedule": schedule, "rules": []})
    assert any(fragment in err["msg"] and err["loc"][0] == "schedule" for err in info.value.errors()), (
        info.value
    )


def test_naive_now_is_refused() -> None:
    from datetime import datetime

    with pytest.raises(ValidationError, match="time zone"):
        IngestContext(now=datetime(2024, 1, 1, 12, 0))


def test_values_never_appear_in_errors() -> None:
    secret = "DOE^JANE-SECRET"
    with pytest.raises(ValidationError) as info:
        Rule.model_validate(
            {
                "name": "r",
                "when": {
                    "all": [{"tag": "PatientName", "in": secret}, {"tag": "PatientName", "after": secret}]
                },
                "actions": [
                    {
                        "crosswalk": {
                            "table": "t",
                            "tag": "StudyDate",
                            "on_missing": "default",
                            "default": secret,
                        }
                    }
                ],
            }
        )
    assert secret not in str(info.value)
