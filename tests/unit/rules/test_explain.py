"""Dry-run: every rule's outcome with the first failing condition, the plan, and the tag diff."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from pydicom import Dataset

from rules.compiler import Failure
from rules.engine import evaluate
from rules.explain import TagChange, diff_datasets, dry_run, explain
from rules.model import IngestContext, Ruleset


def ruleset(name: str, rules: list[dict[str, Any]], **fields: Any) -> Ruleset:
    return Ruleset.model_validate({"name": name, "rules": rules, **fields})


RULESETS = [
    ruleset(
        "clinical",
        [
            {
                "name": "ct",
                "when": {"tag": "Modality", "equals": "CT"},
                "destinations": ["pacs"],
                "actions": [
                    {"set": {"tag": "InstitutionName", "value": "Axiom"}},
                    {"delete": {"tag": "PatientID"}},
                ],
            },
            {
                "name": "mr-head",
                "when": {"all": [{"tag": "Modality", "exists": True}, {"tag": "Modality", "equals": "MR"}]},
            },
            {"name": "body", "when": {"tag": "BodyPartExamined", "in": ["HEAD"]}},
            {"name": "refs", "when": {"tag": "ReferencedSeriesSequence[*].SeriesInstanceUID", "equals": "1"}},
            {"name": "seq-text", "when": {"tag": "OtherPatientIDsSequence", "equals": "x"}},
            {
                "name": "either",
                "when": {
                    "any": [{"context": "calling_ae", "equals": "X"}, {"tag": "PatientSex", "equals": "F"}]
                },
            },
            {"name": "not-ct", "when": {"not": {"tag": "Modality", "equals": "CT"}}},
            {"name": "present", "when": {"tag": "PatientID", "missing": True}},
            {"name": "fb", "fallback": True, "destinations": ["review"]},
        ],
        priority=1,
    ),
    ruleset("night", [{"name": "n"}], priority=2, schedule={"windows": [{"start": "22:00", "end": "06:00"}]}),
    ruleset("first", [{"name": "a"}, {"name": "b"}], priority=3, mode="first_match", stop_after_match=True),
    ruleset("later", [{"name": "c"}], priority=4),
]


def test_explain_lists_every_rule_with_the_reason(ct: Dataset) -> None:
    ctx = IngestContext(calling_ae="CT1", now=datetime(2024, 3, 13, 12, 0, tzinfo=UTC))
    result = explain(RULESETS, ct, ctx)
    assert result.plan == evaluate(RULESETS, ct, ctx)
    by_label = {o.label: o for o in result.rules}
    assert len(by_label) == len(result.rules) == 13
    assert by_label["clinical/ct"].matched and by_label["first/a"].matched
    assert by_label["clinical/mr-head"].failure == Failure(
        "(0008,0060) Modality", "equals", "present, but no value satisfies it"
    )
    assert by_label["clinical/body"].failure == Failure("(0018,0015) BodyPartExamined", "in", "absent")
    assert by_label["clinical/refs"].failure == Failure(
        "(0008,1115) ReferencedSeriesSequence[*].(0020,000E) SeriesInstanceUID", "equals", "absent"
    )
    assert "no text" in by_label["clinical/seq-text"].failure.reason  # type: ignore[union-attr]
    either = by_label["clinical/either"].failure
    assert either is not None and (either.path, either.operator) == ("context.calling_ae", "equals")
    assert "other 1 alternative" in either.reason
    assert by_label["clinical/not-ct"].failure == Failure(
        "(0008,0060) Modality", "not", "the negated condition holds"
    )
    assert by_label["clinical/present"].failure == Failure(
        "(0010,0020) PatientID", "missing", "present with a value"
    )
    assert by_label["clinical/fb"].skipped == "fallback: another rule matched"
    assert by_label["night/n"].skipped == "ruleset outside its schedule"
    assert by_label["first/b"].skipped == "first_match: an earlier rule matched"
    assert by_label["later/c"].skipped.startswith("not evaluated: first matched")
    assert result.outcome("clinical/ct").matched


def test_explanations_never_contain_values(ct: Dataset) -> None:
    ct.PatientSex = "M"
    result = explain(RULESETS, ct, IngestContext(now=datetime(2024, 3, 13, 23, 0, tzinfo=UTC)))
    text = repr(result.rules)
    for value in ("PID-0001", "Doe^John", "CT Head", "OTHER-1"):
        assert value not in text


def test_dry_run_diff_shows_tag_changes(ct: Dataset) -> None:
    _, changes = dry_run(RULESETS, ct, IngestContext(now=datetime(2024, 3, 13, 12, 0, tzinfo=UTC)))
    assert changes == [
        TagChange("(0008,0080) InstitutionName", "added", None, "Axiom"),
        TagChange("(0010,0020) PatientID", "removed", "PID-0001", None),
    ]


def test_diff_datasets_changed_and_sequences(ct: Dataset) -> None:
    after = copy.deepcopy(ct)
    after.Modality = "MR"
    del after.OtherPatientIDsSequence
    after.add_new(0x00091001, "OB", b"\x00\x01")
    assert diff_datasets(ct, after) == [
        TagChange("(0008,0060) Modality", "changed", "CT", "MR"),
        TagChange("(0009,1001)", "added", None, "<OB value, 2 bytes>"),
        TagChange("(0010,1002) OtherPatientIDsSequence", "removed", "<sequence of 1 item(s)>", None),
    ]
    assert diff_datasets(ct, ct) == []
