"""Every YAML example in docs/rules.md loads: the reference must not show rules Axiom refuses."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter

from rules.model import Action, Condition, Rule, Ruleset

DOC = Path(__file__).resolve().parents[3] / "docs" / "rules.md"
_conditions: TypeAdapter[Condition] = TypeAdapter(Condition)
_actions: TypeAdapter[Action] = TypeAdapter(Action)
CONDITION_KEYS = {"tag", "private", "context", "inference", "all", "any", "not"}


def blocks() -> list[Any]:
    found = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    # Blocks with "..." are outlines of the format, not loadable examples.
    return [yaml.safe_load(text) for text in found if "..." not in text]


def load(node: Any) -> int:
    """Validate one example; returns how many items it checked."""
    if isinstance(node, list):
        return sum(load(item) for item in node)
    assert isinstance(node, dict), node
    if "rulesets" in node:
        return len([Ruleset.model_validate(item) for item in node["rulesets"]])
    if "when" in node:
        _conditions.validate_python(node["when"])
        return 1
    if "destinations" in node:
        Rule.model_validate({"name": "r", **node})
        return 1
    if "schedule" in node:
        Ruleset.model_validate({**node, "rules": []})
        return 1
    if CONDITION_KEYS & set(node):
        _conditions.validate_python(node)
        return 1
    _actions.validate_python(node)
    return 1


def test_the_reference_has_examples() -> None:
    assert len(blocks()) >= 15


@pytest.mark.parametrize("index", range(len(blocks())))
def test_every_example_loads(index: int) -> None:
    assert load(blocks()[index]) >= 1


def test_every_operator_and_action_has_an_example() -> None:
    text = DOC.read_text()
    operators = [
        "equals",
        "not_equals",
        "contains",
        "starts_with",
        "ends_with",
        "regex",
        "wildcard",
        "in",
        "range",
        "after",
        "before",
        "between",
        "exists",
        "missing",
        "ignore_case",
    ]
    for name in operators:
        assert re.search(rf"\{{tag: \w+, {name}:", text) or f"{name}: true" in text, name
    actions = [
        "set",
        "delete",
        "prepend",
        "append",
        "regex_replace",
        "copy",
        "move",
        "crosswalk",
        "add_private_block",
        "remove_private_block",
        "anonymize",
        "infer",
        "analyze",
        "standardize",
        "quarantine",
        "drop",
    ]
    for name in actions:
        assert re.search(rf"^\s*- {name}:", text, flags=re.MULTILINE) or f"{{{name}:" in text, name
