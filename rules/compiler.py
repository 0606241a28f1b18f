"""Conditions compiled into closures, once per ruleset version, so evaluation does no parsing.

A compiled condition is a ``Node``: ``test(view)`` is the fast path used for every instance, and
``why_not(view)`` walks the same tree for a dry-run, naming the first condition that failed. The
``View`` memoises element lookups and their text for one evaluation: 200 rules usually ask about a
few dozen tags, so each is resolved once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom import Dataset
from pydicom.dataelem import DataElement

from rules.conditions import (
    DATE_OPERATORS,
    AllOf,
    AnyOf,
    Condition,
    ContextCondition,
    InferenceCondition,
    NotOf,
    NumericRange,
    TagCondition,
)
from rules.datetimes import sortable, sortable_operand
from rules.model import IngestContext
from rules.paths import TagPath
from rules.tags import element_text

TextTest = Callable[[str], bool]


@lru_cache(maxsize=1024)
def compile_pattern(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    """Compiled once per (pattern, case) pair."""
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)


def wildcard_pattern(wildcard: str, ignore_case: bool) -> re.Pattern[str]:
    """``*`` any run of characters, ``?`` one character, everything else literal; whole value."""
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in wildcard)
    return compile_pattern(f"(?s:{body})\\Z", ignore_case)


class View:
    """One dataset and context, with the elements and texts each path reached remembered."""

    __slots__ = ("_elements", "_folded", "_texts", "ctx", "dataset")

    def __init__(self, dataset: Dataset, ctx: IngestContext) -> None:
        self.dataset = dataset
        self.ctx = ctx
        self._elements: dict[int, list[DataElement]] = {}
        self._texts: dict[int, list[str]] = {}
        self._folded: dict[int, list[str]] = {}

    def elements(self, path: TagPath) -> list[DataElement]:
        key = id(path)
        found = self._elements.get(key)
        if found is None:
            found = self._elements[key] = path.resolve(self.dataset)
        return found

    def texts(self, path: TagPath, folded: bool) -> list[str]:
        """Text of each element reached that has one (sequences and binary values have none)."""
        key = id(path)
        cache = self._folded if folded else self._texts
        texts = cache.get(key)
        if texts is None:
            if folded:
                texts = [text.casefold() for text in self.texts(path, False)]
            else:
                texts = [t for t in map(element_text, self.elements(path)) if t is not None]
            cache[key] = texts
        return texts


@dataclass(frozen=True)
class Failure:
    """Why a condition did not hold, without the value: safe to show and to log."""

    path: str
    operator: str
    reason: str


class Node(ABC):
    """A compiled condition: ``test`` for evaluation, ``why_not`` for a dry-run."""

    test: Callable[[View], bool]

    @abstractmethod
    def why_not(self, view: View) -> Failure | None:
        """None when the condition holds, else the first part of it that failed."""


def _values(text: str) -> list[str]:
    return text.split("\\")


def _range_test(bounds: NumericRange) -> TextTest:
    low = float("-inf") if bounds.min is None else bounds.min
    high = float("inf") if bounds.max is None else bounds.max

    def test(text: str) -> bool:
        for part in _values(text):
            try:
                if low <= float(part) <= high:
                    return True
            except ValueError:
                continue  # a non-numeric value is simply not in the range
        return False

    return test


def _date_test(vr: str, operator: str, operand: Any) -> TextTest:
    if operator == "between":
        low, high = (sortable_operand(vr, bound) for bound in operand)
    else:
        bound = sortable_operand(vr, operand)

    def in_range(value: str) -> bool:
        if operator == "after":
            return value > bound
        if operator == "before":
            return value < bound
        return low <= value <= high

    def test(text: str) -> bool:
        for part in _values(text):
            value = sortable(vr, part)
            if value is not None and in_range(value):
                return True
        return False

    return test


def text_test(operator: str, operand: Any, ignore_case: bool, vr: str | None = None) -> TextTest:
    """The test one value's text must pass; text operands are casefolded when ``ignore_case``."""

    def fold(text: str) -> str:
        return text.casefold() if ignore_case else text

    if operator == "equals":
        expected = fold(operand)
        return expected.__eq__
    if operator == "not_equals":
        unexpected = fold(operand)
        return unexpected.__ne__
    if operator == "contains":
        needle = fold(operand)
        return lambda text: needle in text
    if operator == "starts_with":
        prefix = fold(operand)
        return lambda text: text.startswith(prefix)
    if operator == "ends_with":
        suffix = fold(operand)
        return lambda text: text.endswith(suffix)
    if operator == "regex":
        # search, not match: users anchor with ^ and $ when they mean the whole value. The pattern
        # sees the original text and handles case itself, so casefolding does not alter \w classes.
        search = compile_pattern(operand, ignore_case).search
        return lambda text: search(text) is not None
    if operator == "wildcard":
        match = wildcard_pattern(operand, ignore_case).match
        return lambda text: match(text) is not None
    if operator == "in":
        members = frozenset(fold(item) for item in operand)
        return members.__contains__
    if operator == "range":
        return _range_test(operand)
    if operator in DATE_OPERATORS and vr is not None:
        return _date_test(vr, operator, operand)
    raise ValueError(f"operator {operator} cannot test text")


class TagNode(Node):
    def __init__(self, condition: TagCondition) -> None:
        self.path = condition.path
        self.operator = condition.operator
        path = self.path
        if self.operator in ("exists", "missing"):
            want_present = bool(condition.operand()) is (self.operator == "exists")

            def present(view: View) -> bool:
                return any(not elem.is_empty for elem in view.elements(path)) is want_present

            self.test = present
            return
        # Regex and wildcard handle case in the pattern; the other text operators compare casefolded.
        folded = condition.ignore_case and self.operator not in ("regex", "wildcard")
        check = text_test(self.operator, condition.operand(), condition.ignore_case, path.leaf_vr())

        def value_test(view: View) -> bool:
            return any(map(check, view.texts(path, folded)))

        self.test = value_test

    def why_not(self, view: View) -> Failure | None:
        if self.test(view):
            return None
        elements = view.elements(self.path)
        if self.operator in ("exists", "missing"):
            reason = "present with a value" if any(not e.is_empty for e in elements) else "absent or empty"
        elif not elements:
            reason = "absent"
        elif not view.texts(self.path, False):
            reason = "present, but a sequence or binary value has no text to compare"
        else:
            reason = "present, but no value satisfies it"
        return Failure(self.path.label(), self.operator, reason)


class ContextNode(Node):
    def __init__(self, condition: ContextCondition) -> None:
        name = condition.context
        self.name = name
        self.operator = condition.operator
        # `resent` is a boolean: `equals: true` and `equals: "True"` mean the same.
        folded = condition.ignore_case or name == "resent"
        check = text_test(self.operator, condition.operand(), folded)

        def context_test(view: View) -> bool:
            value = getattr(view.ctx, name)
            # Booleans read as YAML writes them, so `equals: true` matches.
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            return check(text.casefold() if folded else text)

        self.test = context_test

    def why_not(self, view: View) -> Failure | None:
        if self.test(view):
            return None
        return Failure(f"context.{self.name}", self.operator, "the value does not satisfy it")


class InferenceNode(Node):
    def __init__(self, condition: InferenceCondition) -> None:
        spec = condition.inference
        self.label = f"inference.{spec.model}"
        self.operator = "min_score" if spec.min_score is not None else "label" if spec.label else "ran"

        def inference_test(view: View) -> bool:
            result = view.ctx.inference.get(spec.model)
            if result is None or result.status != "ok":
                return False
            if spec.label is None:
                return True
            if spec.min_score is None:
                return result.label == spec.label
            return result.scores.get(spec.label, 0.0) >= spec.min_score

        self.test = inference_test

    def why_not(self, view: View) -> Failure | None:
        if self.test(view):
            return None
        model = self.label.removeprefix("inference.")
        result = view.ctx.inference.get(model)
        if result is None:
            reason = "the model has not run on this instance"
        elif result.status != "ok":
            reason = f"the model {result.status} this instance"
        else:
            reason = "the result does not satisfy it"
        return Failure(self.label, self.operator, reason)


class AllNode(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)
        tests = tuple(child.test for child in self.children)
        self.test = lambda view: all(test(view) for test in tests)

    def why_not(self, view: View) -> Failure | None:
        return next((f for f in (c.why_not(view) for c in self.children) if f is not None), None)


class AnyNode(Node):
    def __init__(self, children: Sequence[Node]) -> None:
        self.children = tuple(children)
        tests = tuple(child.test for child in self.children)
        self.test = lambda view: any(test(view) for test in tests)

    def why_not(self, view: View) -> Failure | None:
        if self.test(view):
            return None
        first = self.children[0].why_not(view)
        assert first is not None
        # Every alternative failed; the first stands for them all, and the count says there were more.
        others = len(self.children) - 1
        suffix = f"; the other {others} alternative(s) of any failed too" if others else ""
        return Failure(first.path, first.operator, first.reason + suffix)


class NotNode(Node):
    def __init__(self, child: Node, label: str) -> None:
        self.child = child
        self.label = label
        inner = child.test
        self.test = lambda view: not inner(view)

    def why_not(self, view: View) -> Failure | None:
        if self.test(view):
            return None
        return Failure(self.label, "not", "the negated condition holds")


def _label(condition: Condition) -> str:
    if isinstance(condition, TagCondition):
        return condition.path.label()
    if isinstance(condition, ContextCondition):
        return f"context.{condition.context}"
    if isinstance(condition, InferenceCondition):
        return f"inference.{condition.inference.model}"
    return type(condition).__name__


def compile_condition(condition: Condition) -> Node:
    if isinstance(condition, TagCondition):
        return TagNode(condition)
    if isinstance(condition, ContextCondition):
        return ContextNode(condition)
    if isinstance(condition, InferenceCondition):
        return InferenceNode(condition)
    if isinstance(condition, AllOf):
        return AllNode([compile_condition(sub) for sub in condition.all])
    if isinstance(condition, AnyOf):
        return AnyNode([compile_condition(sub) for sub in condition.any])
    if isinstance(condition, NotOf):
        return NotNode(compile_condition(condition.not_), _label(condition.not_))
    raise TypeError(f"unsupported condition type {type(condition).__name__}")
