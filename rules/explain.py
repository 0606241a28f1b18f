"""Dry-run: what the rules would do with one dataset, rule by rule, and the tag diff it would cause.

``explain`` runs the same compiled program as ``evaluate`` (so it cannot disagree with it), with a
trace of every rule: matched, or the first failing condition (path, operator, a reason that never
quotes the value), or why it was not tried. ``diff_datasets`` shows values because an admin asked
about their own file; callers show it to that admin and never log it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydicom import Dataset
from pydicom.dataelem import DataElement

from rules.compiler import View
from rules.engine import Outcome, Plan, compile_rulesets, run
from rules.model import IngestContext, Ruleset
from rules.morph import apply_actions
from rules.tags import element_text, tag_label


@dataclass(frozen=True)
class Explanation:
    rules: tuple[Outcome, ...]
    plan: Plan

    def outcome(self, label: str) -> Outcome:
        """The outcome of ``"ruleset/rule"``; KeyError when no such enabled rule exists."""
        for outcome in self.rules:
            if outcome.label == label:
                return outcome
        raise KeyError(label)


def explain(rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext) -> Explanation:
    trace: list[Outcome] = []
    plan = run(compile_rulesets(rulesets), View(dataset, ctx), trace)
    return Explanation(tuple(trace), plan)


@dataclass(frozen=True)
class TagChange:
    tag: str  # "(0008,0080) InstitutionName"
    change: Literal["added", "removed", "changed"]
    before: str | None
    after: str | None


def _shown(elem: DataElement) -> str:
    if elem.VR == "SQ":
        return f"<sequence of {len(elem.value)} item(s)>"
    text = element_text(elem)
    return f"<{elem.VR} value, {len(elem.value or b'')} bytes>" if text is None else text


def diff_datasets(before: Dataset, after: Dataset) -> list[TagChange]:
    """Top-level elements added, removed or changed from ``before`` to ``after``, in tag order."""
    changes: list[TagChange] = []
    for tag in sorted(set(before.keys()) | set(after.keys())):
        old, new = before.get(tag), after.get(tag)
        label = tag_label(tag)
        if old is None and new is not None:
            changes.append(TagChange(label, "added", None, _shown(new)))
        elif new is None and old is not None:
            changes.append(TagChange(label, "removed", _shown(old), None))
        elif old is not None and new is not None and (old.VR != new.VR or old.value != new.value):
            changes.append(TagChange(label, "changed", _shown(old), _shown(new)))
    return changes


def dry_run(
    rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext
) -> tuple[Explanation, list[TagChange]]:
    """``explain`` plus the diff the plan's edits would make (MorphError if an edit cannot apply)."""
    explanation = explain(rulesets, dataset, ctx)
    return explanation, diff_datasets(dataset, apply_actions(dataset, explanation.plan.actions))
