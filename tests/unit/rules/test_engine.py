from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydicom import Dataset

from rules.engine import Plan, evaluate
from rules.model import DeleteAction, IngestContext, Ruleset, SetAction

IS_CT = {"tag": "Modality", "equals": "CT"}
IS_MR = {"tag": "Modality", "equals": "MR"}


def ruleset(name: str, rules: list[dict[str, Any]], **fields: Any) -> Ruleset:
    return Ruleset.model_validate({"name": name, "rules": rules, **fields})


def test_rule_without_condition_matches_everything(ctx: IngestContext) -> None:
    plan = evaluate(
        [ruleset("default", [{"name": "everything", "destinations": ["archive"]}])], Dataset(), ctx
    )
    assert plan == Plan(
        matched=("default/everything",),
        actions=(),
        destinations=("archive",),
        priorities={"archive": "default"},
    )


def test_no_rulesets_or_no_match_gives_an_empty_plan(ct: Dataset, ctx: IngestContext) -> None:
    assert evaluate([], ct, ctx) == Plan()
    plan = evaluate([ruleset("r", [{"name": "mr", "when": IS_MR, "destinations": ["pacs"]}])], ct, ctx)
    assert plan == Plan()


def test_rulesets_run_by_priority_then_name(ct: Dataset, ctx: IngestContext) -> None:
    rulesets = [
        ruleset("zeta", [{"name": "a", "destinations": ["z"]}], priority=5),
        ruleset("late", [{"name": "a", "destinations": ["late"]}], priority=200),
        ruleset("alpha", [{"name": "a", "destinations": ["a"]}], priority=5),
        ruleset("first", [{"name": "a", "destinations": ["first"]}], priority=-1),
    ]
    plan = evaluate(rulesets, ct, ctx)
    assert plan.matched == ("first/a", "alpha/a", "zeta/a", "late/a")
    assert plan.destinations == ("first", "a", "z", "late")


def test_all_matches_keeps_every_matching_rule_in_order(ct: Dataset, ctx: IngestContext) -> None:
    rules: list[dict[str, Any]] = [
        {"name": "one", "when": IS_CT, "destinations": ["a"]},
        {"name": "two", "when": IS_MR, "destinations": ["b"]},
        {"name": "three", "destinations": ["c"]},
    ]
    plan = evaluate([ruleset("rs", rules)], ct, ctx)
    assert plan.matched == ("rs/one", "rs/three")
    assert plan.destinations == ("a", "c")


def test_first_match_stops_only_its_own_ruleset(ct: Dataset, ctx: IngestContext) -> None:
    first = ruleset(
        "first",
        [
            {"name": "mr", "when": IS_MR, "destinations": ["mr"]},
            {"name": "ct", "when": IS_CT, "destinations": ["ct"]},
            {"name": "rest", "destinations": ["rest"]},
        ],
        mode="first_match",
        priority=1,
    )
    other = ruleset("other", [{"name": "always", "destinations": ["always"]}], priority=2)
    plan = evaluate([other, first], ct, ctx)
    assert plan.matched == ("first/ct", "other/always")
    assert plan.destinations == ("ct", "always")


def test_disabled_rulesets_and_rules_are_skipped(ct: Dataset, ctx: IngestContext) -> None:
    rulesets = [
        ruleset("off", [{"name": "a", "destinations": ["off"]}], enabled=False),
        ruleset(
            "on",
            [
                {"name": "disabled", "destinations": ["x"], "enabled": False},
                {"name": "enabled", "destinations": ["y"]},
            ],
            mode="first_match",
        ),
    ]
    plan = evaluate(rulesets, ct, ctx)
    assert plan.matched == ("on/enabled",)
    assert plan.destinations == ("y",)


def test_destinations_are_deduplicated_in_first_seen_order(ct: Dataset, ctx: IngestContext) -> None:
    rulesets = [
        ruleset(
            "a", [{"name": "r1", "destinations": ["pacs", "archive"]}, {"name": "r2", "destinations": ["ai"]}]
        ),
        ruleset("b", [{"name": "r1", "destinations": ["archive", "ai", "pacs", "cloud"]}]),
    ]
    assert evaluate(rulesets, ct, ctx).destinations == ("pacs", "archive", "ai", "cloud")


def test_actions_follow_the_order_of_matched_rules(ct: Dataset, ctx: IngestContext) -> None:
    rulesets = [
        ruleset("late", [{"name": "r", "actions": [{"delete": {"tag": "PatientID"}}]}], priority=50),
        ruleset(
            "early",
            [
                {"name": "r1", "actions": [{"set": {"tag": "InstitutionName", "value": "A"}}]},
                {
                    "name": "r2",
                    "when": IS_MR,
                    "actions": [{"set": {"tag": "InstitutionName", "value": "MR"}}],
                },
                {"name": "r3", "actions": [{"set": {"tag": "StationName", "value": "S"}}]},
            ],
            priority=10,
        ),
    ]
    actions = evaluate(rulesets, ct, ctx).actions
    assert [type(a) for a in actions] == [SetAction, SetAction, DeleteAction]
    assert [a.set.value for a in actions if isinstance(a, SetAction)] == ["A", "S"]


def test_conditions_see_the_received_dataset_not_earlier_actions(ct: Dataset, ctx: IngestContext) -> None:
    rules: list[dict[str, Any]] = [
        {"name": "relabel", "actions": [{"set": {"tag": "Modality", "value": "MR"}}]},
        {"name": "mr-only", "when": IS_MR, "destinations": ["mr"]},
    ]
    plan = evaluate([ruleset("rs", rules)], ct, ctx)
    assert plan.matched == ("rs/relabel",)
    assert ct.Modality == "CT"


def test_plan_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Plan().matched = ("x/y",)  # type: ignore[misc]
