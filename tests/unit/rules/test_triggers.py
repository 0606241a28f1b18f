"""Rule triggers: per instance by default; series/study-complete rules defer their destinations."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from pydicom import Dataset

from rules.engine import Deferred, evaluate
from rules.model import IngestContext, Rule, Ruleset, Trigger


def _ruleset(rules: list[dict[str, Any]]) -> Ruleset:
    return Ruleset.model_validate({"name": "main", "rules": rules})


def test_shorthand_and_full_form_load_to_the_same_trigger() -> None:
    short = Rule.model_validate({"name": "r", "trigger": "study", "destinations": ["ai"]})
    full = Rule.model_validate({"name": "r", "trigger": {"level": "study"}, "destinations": ["ai"]})
    assert short == full
    assert short.trigger == Trigger(level="study", quiet_seconds=None, straggler="send_alone")
    assert short.grouped
    assert not Rule.model_validate({"name": "r"}).grouped
    assert not Rule.model_validate({"name": "r", "trigger": "instance"}).grouped


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ({"level": "patient"}, "level"),
        ({"level": "series", "quiet_seconds": 0}, "quiet_seconds"),
        ({"level": "study", "straggler": "ignore"}, "straggler"),
    ],
)
def test_bad_triggers_are_refused_naming_the_field(trigger: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as info:
        Rule.model_validate({"name": "r", "trigger": trigger, "destinations": ["ai"]})
    assert message in str(info.value)


def test_a_grouped_rule_needs_destinations() -> None:
    with pytest.raises(ValidationError, match="needs destinations"):
        Rule.model_validate({"name": "r", "trigger": "series"})


def test_stored_form_of_a_per_instance_rule_is_unchanged() -> None:
    rule = Rule.model_validate({"name": "r", "destinations": ["a"]})
    assert "trigger" not in rule.model_dump(mode="json", by_alias=True, exclude_none=True)


def test_deferred_destinations_are_separate_from_immediate_ones(ct: Dataset, ctx: IngestContext) -> None:
    rules = [
        {"name": "now", "destinations": ["archive"]},
        {
            "name": "later",
            "trigger": {"level": "study", "quiet_seconds": 30, "straggler": "hold"},
            "actions": [{"set": {"tag": "StationName", "value": "X"}}],
            "destinations": [{"name": "ai", "priority": "high"}, "archive"],
        },
    ]
    plan = evaluate([_ruleset(rules)], ct, ctx)
    assert plan.matched == ("main/now", "main/later")
    assert plan.destinations == ("archive",)
    assert plan.deferred == (
        Deferred(
            "main/later",
            Trigger(level="study", quiet_seconds=30, straggler="hold"),
            {"ai": "high", "archive": "default"},
        ),
    )
    # Tag edits of a grouped rule apply to the one outgoing copy like any other rule's.
    assert len(plan.actions) == 1


def test_quarantine_wins_over_deferred_routing(ct: Dataset, ctx: IngestContext) -> None:
    rules = [
        {"name": "later", "trigger": "series", "destinations": ["ai"]},
        {"name": "hold", "actions": [{"quarantine": {"reason": "check"}}]},
    ]
    plan = evaluate([_ruleset(rules)], ct, ctx)
    assert plan.disposition == "quarantine"
    assert plan.deferred == ()


def test_a_grouped_match_counts_as_a_match_for_fallbacks(ct: Dataset, ctx: IngestContext) -> None:
    rules = [
        {"name": "later", "trigger": "series", "destinations": ["ai"]},
        {"name": "rest", "fallback": True, "destinations": ["archive"]},
    ]
    plan = evaluate([_ruleset(rules)], ct, ctx)
    assert plan.destinations == ()
    assert [d.rule for d in plan.deferred] == ["main/later"]
