"""Evaluate rulesets against one dataset and return a plan: which rules matched, what to do, where to send.

Runs once per received instance, so it is pure and cheap: no I/O, no clock, no logging, regexes
compiled once per pattern. Conditions see the dataset as received; actions are applied afterwards
(rules.morph), so one rule's ``set`` never changes what another rule's condition sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from pydicom import Dataset
from pydicom.dataelem import DataElement

from rules.model import Action, AllOf, AnyOf, Condition, IngestContext, NotOf, Ruleset, TagCondition
from rules.tags import element_text


@dataclass(frozen=True)
class Plan:
    """The outcome of evaluation. ``matched`` entries read ``"ruleset/rule"``."""

    matched: tuple[str, ...] = ()
    actions: tuple[Action, ...] = ()
    destinations: tuple[str, ...] = ()


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compiled once per (pattern, case) pair: rules are evaluated for every instance."""
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def _equals(condition: TagCondition, elem: DataElement | None) -> bool:
    text = None if elem is None else element_text(elem)
    expected = condition.equals
    if text is None or expected is None:
        return False
    if condition.ignore_case:
        return text.casefold() == expected.casefold()
    return text == expected


def _regex(condition: TagCondition, elem: DataElement | None) -> bool:
    text = None if elem is None else element_text(elem)
    if text is None or condition.regex is None:
        return False
    # search, not match: users anchor with ^ and $ when they mean the whole value.
    return compile_pattern(condition.regex, condition.ignore_case).search(text) is not None


def _exists(condition: TagCondition, elem: DataElement | None) -> bool:
    present = elem is not None and not elem.is_empty
    return present is bool(condition.exists)


# Operator name (a TagCondition field) -> test of the element, which is None when the tag is absent.
OPERATORS: dict[str, Callable[[TagCondition, DataElement | None], bool]] = {
    "equals": _equals,
    "regex": _regex,
    "exists": _exists,
}


def matches(condition: Condition, dataset: Dataset, ctx: IngestContext) -> bool:
    """Whether ``condition`` holds for ``dataset``. ``ctx`` is passed down for context conditions."""
    if isinstance(condition, TagCondition):
        return OPERATORS[condition.operator](condition, dataset.get(condition.resolved_tag))
    if isinstance(condition, AllOf):
        return all(matches(sub, dataset, ctx) for sub in condition.all)
    if isinstance(condition, AnyOf):
        return any(matches(sub, dataset, ctx) for sub in condition.any)
    if isinstance(condition, NotOf):
        return not matches(condition.not_, dataset, ctx)
    raise TypeError(f"unsupported condition type {type(condition).__name__}")


def _ordered(rulesets: Sequence[Ruleset]) -> list[Ruleset]:
    return sorted((rs for rs in rulesets if rs.enabled), key=lambda rs: (rs.priority, rs.name))


def evaluate(rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext) -> Plan:
    """Run enabled rulesets in ascending priority (then name) and collect what matching rules ask for.

    Actions keep the order of the matched rules; destinations are deduplicated in first-seen order.
    """
    matched: list[str] = []
    actions: list[Action] = []
    destinations: dict[str, None] = {}
    for ruleset in _ordered(rulesets):
        for rule in ruleset.rules:
            if not rule.enabled:
                continue
            if rule.when is not None and not matches(rule.when, dataset, ctx):
                continue
            matched.append(f"{ruleset.name}/{rule.name}")
            actions.extend(rule.actions)
            destinations.update(dict.fromkeys(rule.destinations))
            if ruleset.mode == "first_match":
                break
    return Plan(matched=tuple(matched), actions=tuple(actions), destinations=tuple(destinations))
