from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rules.model import AllOf, IngestContext, NotOf, Rule, Ruleset, SetAction, TagCondition


def rule_errors(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate({"name": "r", **spec})
    return [(".".join(str(p) for p in err["loc"]), err["msg"]) for err in info.value.errors()]


def only_error(spec: dict[str, Any]) -> tuple[str, str]:
    errors = rule_errors(spec)
    assert len(errors) == 1, errors
    return errors[0]


def test_bad_regex_names_the_field_and_reason() -> None:
    loc, msg = only_error({"when": {"tag": "Modality", "regex": "(CT"}})
    assert loc == "when.tag.regex"
    assert "invalid regular expression" in msg and "missing )" in msg


def test_unknown_keyword_names_the_field_and_suggests() -> None:
    loc, msg = only_error({"when": {"all": [{"tag": "Modalty", "equals": "CT"}]}})
    assert loc == "when.all.all.0.tag.tag"
    assert "unknown DICOM keyword 'Modalty'" in msg and "did you mean 'Modality'" in msg


def test_two_operators_are_refused() -> None:
    loc, msg = only_error({"when": {"tag": "Modality", "equals": "CT", "regex": "CT"}})
    assert loc == "when.tag"
    assert "exactly one operator" in msg and "found: equals, regex" in msg


def test_missing_operator_is_refused() -> None:
    _, msg = only_error({"when": {"not": {"tag": "Modality"}}})
    assert "exactly one operator" in msg and "found: none" in msg


def test_ignore_case_with_exists_is_refused() -> None:
    _, msg = only_error({"when": {"tag": "Modality", "exists": True, "ignore_case": True}})
    assert "ignore_case applies to equals and regex" in msg


@pytest.mark.parametrize(
    ("when", "fragment"),
    [
        ({"foo": "Modality"}, "one of the keys 'tag', 'all', 'any' or 'not'"),
        ({"tag": "Modality", "equals": "CT", "colour": "red"}, "Extra inputs are not permitted"),
        ({"all": []}, "at least 1 item"),
    ],
)
def test_malformed_conditions(when: dict[str, Any], fragment: str) -> None:
    assert any(fragment in msg for _, msg in rule_errors({"when": when}))


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        (
            {"set": {"tag": "StudyDate", "value": "2024-13-45"}},
            "value is not valid for (0008,0020) StudyDate",
        ),
        ({"set": {"tag": "(0009,1001)", "value": "x"}}, "not in the DICOM dictionary; give its vr"),
        ({"set": {"tag": "SmallestImagePixelValue", "value": "1"}}, "give vr to choose one"),
        ({"set": {"tag": "PixelData", "value": "1"}}, "cannot be set from text"),
        ({"set": {"tag": "Modality", "value": "CT", "vr": "ZZ"}}, "not a DICOM VR"),
        ({"set": {"tag": "TransferSyntaxUID", "value": "1.2.840.10008.1.2"}}, "file meta information"),
        ({"delete": {"tag": "PatientsName"}}, "did you mean 'PatientName'"),
        ({"transmogrify": {"tag": "Modality"}}, "an action is a mapping with one key: set, delete"),
        ({"move": {"tag": "Modality"}}, "Field required"),
    ],
)
def test_malformed_actions(action: dict[str, Any], fragment: str) -> None:
    assert any(fragment in msg for _, msg in rule_errors({"actions": [action]}))


def test_errors_do_not_echo_input_values() -> None:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate(
            {
                "name": "r",
                "when": {"tag": "PatientID", "equals": "SECRET-PID-42", "regex": "x"},
                "actions": [],
            }
        )
    assert "SECRET-PID-42" not in str(info.value)


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "x" * 65, "slash/name"])
def test_names_follow_the_pattern(name: str) -> None:
    with pytest.raises(ValidationError):
        Ruleset.model_validate({"name": name, "rules": []})
    with pytest.raises(ValidationError):
        Rule.model_validate({"name": name})
    with pytest.raises(ValidationError):
        Rule.model_validate({"name": "r", "destinations": [name]})


def test_rule_names_are_unique_within_a_ruleset() -> None:
    with pytest.raises(ValidationError, match="repeated: dup"):
        Ruleset.model_validate({"name": "rs", "rules": [{"name": "dup"}, {"name": "ok"}, {"name": "dup"}]})


def test_bad_mode_is_refused() -> None:
    with pytest.raises(ValidationError, match="first_match"):
        Ruleset.model_validate({"name": "rs", "mode": "sometimes", "rules": []})


def test_defaults() -> None:
    rs = Ruleset.model_validate({"name": "rs", "rules": [{"name": "r"}]})
    assert (rs.description, rs.priority, rs.enabled, rs.mode) == ("", 100, True, "all_matches")
    rule = rs.rules[0]
    assert (rule.when, rule.actions, rule.destinations, rule.enabled) == (None, [], [], True)
    assert IngestContext() == IngestContext(calling_ae="", called_ae="", source="listener", received_at=None)


def test_models_are_frozen() -> None:
    ctx = IngestContext(received_at=datetime(2024, 1, 2, tzinfo=UTC))
    with pytest.raises(ValidationError):
        ctx.calling_ae = "X"
    with pytest.raises(ValidationError):
        TagCondition(tag="Modality", equals="CT").equals = "MR"


def test_not_accepts_its_alias_and_field_name() -> None:
    inner = TagCondition(tag="Modality", equals="CT")
    assert NotOf.model_validate({"not": inner}) == NotOf.model_validate({"not_": inner})
    assert NotOf.model_validate({"not": inner}).model_dump(exclude_none=True) == {
        "not": {"tag": "Modality", "equals": "CT", "ignore_case": False}
    }


FULL = {
    "name": "clinical",
    "description": "every kind of node",
    "priority": 7,
    "enabled": False,
    "mode": "first_match",
    "rules": [
        {
            "name": "ct",
            "when": {
                "all": [
                    {"tag": "Modality", "equals": "CT", "ignore_case": True},
                    {"any": [{"tag": "(0008,1030)", "regex": "^head"}, {"tag": "00180015", "exists": True}]},
                    {"not": {"tag": "ImageType", "regex": "LOCALIZER", "ignore_case": True}},
                    {"tag": "BodyPartExamined", "exists": False},
                ]
            },
            "actions": [
                {"set": {"tag": "InstitutionName", "value": "Axiom"}},
                {"set": {"tag": "(0009,1001)", "value": "x", "vr": "LO"}},
                {"delete": {"tag": "PatientBirthDate"}},
            ],
            "destinations": ["pacs", "archive"],
        },
        {"name": "rest", "destinations": ["archive"], "enabled": False},
    ],
}


def test_round_trip_through_json_dump() -> None:
    rs = Ruleset.model_validate(FULL)
    dumped = rs.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert Ruleset.model_validate(dumped) == rs
    assert Ruleset.model_validate_json(rs.model_dump_json(by_alias=True, exclude_none=True)) == rs
    first = rs.rules[0]
    assert isinstance(first.when, AllOf)
    assert isinstance(first.actions[0], SetAction)
    assert dumped["rules"][0]["when"]["all"][2] == {
        "not": {"tag": "ImageType", "regex": "LOCALIZER", "ignore_case": True}
    }
