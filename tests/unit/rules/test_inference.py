"""The `infer` action and `inference` condition: the engine plans models, never runs them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pydicom import Dataset

from rules.compiler import View, compile_condition
from rules.engine import INFERENCE_CREATOR, INFERENCE_GROUP, evaluate
from rules.model import InferenceResult, IngestContext, Rule, Ruleset
from rules.morph import apply_actions

PNEUMONIA = InferenceResult(version="3", label="pneumonia", scores={"normal": 0.1, "pneumonia": 0.9})
BORDERLINE = InferenceResult(version="3", label="pneumonia", scores={"normal": 0.4, "pneumonia": 0.6})


def _ruleset(write_private: bool = False) -> Ruleset:
    return Ruleset.model_validate(
        {
            "name": "ai",
            "rules": [
                {
                    "name": "run-model",
                    "when": {"tag": "Modality", "equals": "CT"},
                    "actions": [{"infer": {"model": "chest", "write_private": write_private}}],
                    "destinations": ["archive"],
                },
                {
                    "name": "urgent",
                    "when": {"inference": {"model": "chest", "label": "pneumonia", "min_score": 0.8}},
                    "destinations": [{"name": "urgent", "priority": "high"}],
                },
            ],
        }
    )


def _ctx(**results: InferenceResult) -> IngestContext:
    return IngestContext(inference=results)


def test_without_a_result_the_plan_asks_for_the_model(ct: Dataset) -> None:
    plan = evaluate([_ruleset()], ct, _ctx())
    assert [spec.model for spec in plan.infer] == ["chest"]
    assert plan.destinations == ("archive",)  # the caller routes nothing before the model ran


def test_with_the_result_a_later_rule_routes_on_it(ct: Dataset) -> None:
    plan = evaluate([_ruleset()], ct, _ctx(chest=PNEUMONIA))
    assert plan.infer == ()
    assert plan.destinations == ("archive", "urgent")
    assert plan.priorities["urgent"] == "high"
    assert evaluate([_ruleset()], ct, _ctx(chest=BORDERLINE)).destinations == ("archive",)


@pytest.mark.parametrize("status", ["skipped", "failed"])
def test_a_skipped_or_failed_model_counts_as_run_and_matches_nothing(ct: Dataset, status: str) -> None:
    plan = evaluate([_ruleset()], ct, _ctx(chest=InferenceResult(status=status)))  # type: ignore[arg-type]
    assert plan.infer == () and plan.destinations == ("archive",)


def test_write_private_puts_the_result_in_the_outgoing_copy(ct: Dataset) -> None:
    plan = evaluate([_ruleset(write_private=True)], ct, _ctx(chest=PNEUMONIA))
    out = apply_actions(ct, plan.actions)
    block = out.private_block(INFERENCE_GROUP, INFERENCE_CREATOR)
    assert [block[i].value for i in (0x01, 0x02, 0x03)] == ["chest", "3", "pneumonia"]
    assert float(block[0x04].value) == pytest.approx(0.9)
    assert block[0x05].value == "normal=0.1000; pneumonia=0.9000"
    assert not [e for e in ct if e.tag.group == INFERENCE_GROUP]  # the received dataset is untouched


def test_a_drop_or_quarantine_needs_no_model(ct: Dataset) -> None:
    rules: list[dict[str, Any]] = [
        {"name": "run", "actions": [{"infer": {"model": "chest"}}], "destinations": ["archive"]},
        {"name": "hold", "actions": [{"quarantine": {"reason": "held"}}]},
    ]
    plan = evaluate([Ruleset(name="r", rules=[Rule.model_validate(r) for r in rules])], ct, _ctx())
    assert plan.disposition == "quarantine" and plan.infer == ()


@pytest.mark.parametrize(
    ("spec", "result", "holds"),
    [
        ({"model": "chest"}, PNEUMONIA, True),
        ({"model": "chest", "label": "pneumonia"}, BORDERLINE, True),
        ({"model": "chest", "label": "normal"}, BORDERLINE, False),
        ({"model": "chest", "label": "normal", "min_score": 0.4}, BORDERLINE, True),
        ({"model": "other"}, PNEUMONIA, False),
    ],
)
def test_inference_condition_semantics(
    ct: Dataset, spec: dict[str, Any], result: InferenceResult, holds: bool
) -> None:
    node = compile_condition(Rule.model_validate({"name": "r", "when": {"inference": spec}}).when)  # type: ignore[arg-type]
    view = View(ct, _ctx(chest=result))
    assert node.test(view) is holds
    assert (node.why_not(view) is None) is holds


def test_why_not_says_the_model_has_not_run(ct: Dataset) -> None:
    node = compile_condition(Rule.model_validate({"name": "r", "when": {"inference": {"model": "x"}}}).when)  # type: ignore[arg-type]
    failure = node.why_not(View(ct, _ctx()))
    assert failure is not None and failure.path == "inference.x"
    assert "has not run" in failure.reason


@pytest.mark.parametrize(
    "when",
    [
        {"inference": {"model": "chest", "min_score": 0.8}},
        {"inference": {"model": "chest", "label": "x", "min_score": 1.5}},
        {"inference": {"model": "bad name"}},
        {"inference": {"model": "chest", "colour": "red"}},
    ],
)
def test_invalid_inference_conditions_fail_at_load(when: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Rule.model_validate({"name": "r", "when": when})


def test_infer_action_round_trips_through_json() -> None:
    rule = Rule.model_validate({"name": "r", "actions": [{"infer": {"model": "chest", "version": "2"}}]})
    dumped = rule.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["actions"] == [{"infer": {"model": "chest", "version": "2", "write_private": False}}]
    assert Rule.model_validate(dumped) == rule


def test_standardize_sets_the_terms_the_caller_found(ct: Dataset) -> None:
    ruleset = Ruleset.model_validate(
        {
            "name": "tags",
            "rules": [
                {
                    "name": "std",
                    "actions": [{"standardize": {"tags": ["BodyPartExamined", "StudyDescription"]}}],
                    "destinations": ["archive"],
                }
            ],
        }
    )
    ctx = IngestContext(standardized={"BodyPartExamined": "CHEST", "ProtocolName": "IGNORED"})
    out = apply_actions(ct, evaluate([ruleset], ct, ctx).actions)
    assert out.BodyPartExamined == "CHEST"
    assert out.get("ProtocolName") == ct.get("ProtocolName")  # not asked for by the rule
    assert evaluate([ruleset], ct, IngestContext()).actions == ()


def test_standardize_takes_only_the_four_description_tags() -> None:
    with pytest.raises(ValidationError):
        Rule.model_validate({"name": "r", "actions": [{"standardize": {"tags": ["PatientName"]}}]})
    rule = Rule.model_validate({"name": "r", "actions": [{"standardize": {}}]})
    assert len(rule.actions[0].standardize.tags) == 4  # type: ignore[union-attr]
