"""Evaluate rulesets against one dataset and return a plan: which rules matched, what to do, where to send.

Runs once per received instance, so it is pure and cheap: no I/O, no clock (``ctx.now``), no
logging. Rulesets are compiled once (``compile_rulesets``, cached by the identity of the list's
rulesets, which a worker keeps until the configuration version moves). Conditions see the dataset
as received; tag edits are applied afterwards (rules.morph), so one rule's ``set`` never changes
what another rule's condition sees.

Order: enabled rulesets by ascending priority, then name. A ruleset outside its schedule is
skipped. ``first_match`` stops a ruleset at its first matching rule; ``stop_after_match`` stops
every ruleset after it once it matched. Fallback rules are considered last, only when no other
rule matched. A quarantine anywhere wins over drop, and either replaces routing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydicom import Dataset

from rules.actions import (
    DISPOSITION_ACTIONS,
    AnalyzeAction,
    AnalyzeSpec,
    AnonymizeAction,
    CrosswalkAction,
    DropAction,
    InferAction,
    InferSpec,
    QuarantineAction,
    StandardizeAction,
)
from rules.anonymize.plan import plan_anonymize
from rules.compiler import Failure, Node, View, compile_condition, compile_pattern
from rules.model import (
    Condition,
    InferenceResult,
    IngestContext,
    Priority,
    Rule,
    Ruleset,
    SetAction,
    SetSpec,
)
from rules.plan import (
    INFERENCE_CREATOR,
    INFERENCE_GROUP,
    AnalysisRequest,
    Deferred,
    Disposition,
    DocumentKind,
    FindingReport,
    Plan,
    PlanAction,
    finding_documents,
    inference_block,
)
from rules.tags import dataset_text, tag_label

_RANK: dict[Priority, int] = {"high": 0, "default": 1, "low": 2}


class ScheduleError(ValueError):
    """A ruleset has a schedule but the context carries no ``now`` to check it against."""


@dataclass(frozen=True)
class CompiledRule:
    label: str  # "ruleset/rule"
    rule: Rule
    when: Node | None

    @property
    def fallback(self) -> bool:
        return self.rule.fallback


@dataclass(frozen=True)
class CompiledRuleset:
    ruleset: Ruleset
    rules: tuple[CompiledRule, ...]  # enabled rules only, in order
    fallbacks: tuple[CompiledRule, ...]


def compile_ruleset(ruleset: Ruleset) -> CompiledRuleset:
    compiled = [
        CompiledRule(
            f"{ruleset.name}/{rule.name}", rule, None if rule.when is None else compile_condition(rule.when)
        )
        for rule in ruleset.rules
        if rule.enabled
    ]
    return CompiledRuleset(
        ruleset,
        tuple(r for r in compiled if not r.fallback),
        tuple(r for r in compiled if r.fallback),
    )


# id(ruleset) -> (ruleset, compiled). Holding the ruleset keeps its id from being reused while cached.
_CACHE: dict[int, tuple[Ruleset, CompiledRuleset]] = {}
_CACHE_SIZE = 512
_PROGRAMS: dict[tuple[int, ...], tuple[tuple[Ruleset, ...], tuple[CompiledRuleset, ...]]] = {}


def _compiled(ruleset: Ruleset) -> CompiledRuleset:
    hit = _CACHE.get(id(ruleset))
    if hit is not None and hit[0] is ruleset:
        return hit[1]
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))  # the oldest: an earlier configuration version
    compiled = _CACHE[id(ruleset)] = (ruleset, compile_ruleset(ruleset))
    return compiled[1]


def compile_rulesets(rulesets: Sequence[Ruleset]) -> tuple[CompiledRuleset, ...]:
    """Enabled rulesets compiled, in evaluation order; cached for the same ruleset objects."""
    key = tuple(map(id, rulesets))
    hit = _PROGRAMS.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], rulesets, strict=True)):
        return hit[1]
    ordered = sorted((rs for rs in rulesets if rs.enabled), key=lambda rs: (rs.priority, rs.name))
    program = tuple(_compiled(rs) for rs in ordered)
    if len(_PROGRAMS) >= 64:
        _PROGRAMS.pop(next(iter(_PROGRAMS)))
    _PROGRAMS[key] = (tuple(rulesets), program)
    return program


@dataclass(frozen=True)
class Outcome:
    """One rule's fate in a dry-run: matched, or why not (``failure``), or why it was not tried."""

    label: str
    matched: bool
    failure: Failure | None = None
    skipped: str = ""


def _in_schedule(ruleset: Ruleset, ctx: IngestContext) -> bool:
    if ruleset.schedule is None:
        return True
    if ctx.now is None:
        raise ScheduleError(f"ruleset {ruleset.name!r} has a schedule; evaluating it needs ctx.now")
    return ruleset.schedule.is_open(ctx.now)


class _Collector:
    """What matching rules ask for, merged in order."""

    def __init__(self, view: View) -> None:
        self.view = view
        self.matched: list[str] = []
        self.actions: list[PlanAction] = []
        self.destinations: dict[str, Priority] = {}
        self.deferred: list[Deferred] = []
        self.infer: dict[str, InferSpec] = {}
        self.analyze: dict[str, AnalysisRequest] = {}
        # (model, document kind) -> (result, destinations, grouped rules; each in first-seen order)
        self.reports: dict[
            tuple[str, DocumentKind], tuple[InferenceResult, dict[str, None], dict[str, None]]
        ] = {}
        self.quarantine = ""
        self.drop = ""

    def take(self, compiled: CompiledRule) -> None:
        rule = compiled.rule
        self.matched.append(compiled.label)
        for action in rule.actions:
            if isinstance(action, DISPOSITION_ACTIONS):
                self._dispose(compiled.label, action)
            elif isinstance(action, CrosswalkAction):
                self._crosswalk(compiled.label, action)
            elif isinstance(action, AnonymizeAction):
                self._anonymize(compiled.label, action)
            elif isinstance(action, InferAction):
                self._infer(action.infer, compiled.label, rule)
            elif isinstance(action, AnalyzeAction):
                self._analyze(compiled.label, action.analyze)
            elif isinstance(action, StandardizeAction):
                self._standardize(action)
            else:
                self.actions.append(action)
        if rule.trigger is not None and rule.grouped:
            wanted = {name: rule.priorities.get(name, "default") for name in rule.destinations}
            self.deferred.append(Deferred(compiled.label, rule.trigger, wanted))
            return
        for name in rule.destinations:
            priority = rule.priorities.get(name, "default")
            current = self.destinations.get(name)
            if current is None or _RANK[priority] < _RANK[current]:
                self.destinations[name] = priority

    def _dispose(self, label: str, action: QuarantineAction | DropAction) -> None:
        if isinstance(action, QuarantineAction):
            self.quarantine = self.quarantine or f"{label}: {action.quarantine.reason}"
        else:
            self.drop = self.drop or f"{label}: {action.drop.reason}"

    def _crosswalk(self, label: str, action: CrosswalkAction) -> None:
        spec = action.crosswalk
        # The key is the value as received, like every condition sees it.
        key = dataset_text(self.view.dataset, spec.resolved_tag)
        value = None if key is None else self.view.ctx.lookup(spec.table, key)
        if value is None and spec.on_missing == "keep":
            return
        if value is None and spec.on_missing == "quarantine":
            where = tag_label(spec.resolved_tag)
            self.quarantine = self.quarantine or f"{label}: crosswalk {spec.table!r} has no entry for {where}"
            return
        text = value if value is not None else str(spec.default)
        # Validated when applied (MorphError names the tag), since a table value is only known now.
        spec_set = SetSpec.model_construct(tag=spec.tag, value=text, vr=spec.vr)
        self.actions.append(SetAction.model_construct(set=spec_set))

    def _infer(self, spec: InferSpec, label: str, rule: Rule) -> None:
        result = self.view.ctx.inference.get(spec.model)
        if result is None:
            self.infer.setdefault(spec.model, spec)
            return
        if spec.write_private and result.status == "ok":
            self.actions.append(inference_block(spec.model, result))
        for kind in finding_documents(spec, result):
            _, names, held_by = self.reports.setdefault((spec.model, kind), (result, {}, {}))
            if rule.grouped:
                held_by[label] = None
            else:
                names.update(dict.fromkeys(rule.destinations))

    def _analyze(self, label: str, spec: AnalyzeSpec) -> None:
        if spec.store_as not in self.view.ctx.inference:
            request = AnalysisRequest(label, spec, tuple(self.actions))
            self.analyze.setdefault(spec.store_as, request)

    def _standardize(self, action: StandardizeAction) -> None:
        for tag in action.standardize.tags:
            term = self.view.ctx.standardized.get(tag)
            if term is not None:
                # Validated when applied (MorphError names the tag), like a crosswalk value.
                spec = SetSpec.model_construct(tag=tag, value=term, vr=None)
                self.actions.append(SetAction.model_construct(set=spec))

    def _anonymize(self, label: str, action: AnonymizeAction) -> None:
        # Decided on the received dataset, like every condition and crosswalk.
        ctx = self.view.ctx
        step = plan_anonymize(action.anonymize, self.view.dataset, ctx.anon_secret, ctx.lookup)
        if isinstance(step, str):
            self.quarantine = self.quarantine or f"{label}: {step}"
        else:
            self.actions.append(step)

    def plan(self) -> Plan:
        disposition: Disposition = "quarantine" if self.quarantine else "drop" if self.drop else "route"
        routed = disposition == "route"
        return Plan(
            matched=tuple(self.matched),
            actions=tuple(self.actions),
            destinations=tuple(self.destinations) if routed else (),
            priorities=dict(self.destinations) if routed else {},
            disposition=disposition,
            reason=self.quarantine or self.drop,
            deferred=tuple(self.deferred) if routed else (),
            infer=tuple(self.infer.values()) if routed else (),
            reports=tuple(
                FindingReport(model, result, tuple(names), kind, tuple(held_by))
                for (model, kind), (result, names, held_by) in self.reports.items()
                if names or held_by
            )
            if routed and not self.infer
            else (),
            analyze=tuple(self.analyze.values()) if routed else (),
        )


def run(program: Sequence[CompiledRuleset], view: View, trace: list[Outcome] | None = None) -> Plan:
    """Evaluate a compiled program; with ``trace``, record every rule's outcome for a dry-run."""
    collector = _Collector(view)
    active: list[CompiledRuleset] = []
    stopped_by = ""
    for compiled in program:
        ruleset = compiled.ruleset
        if stopped_by:
            _skip(trace, compiled, f"not evaluated: {stopped_by} matched and stops later rulesets")
            continue
        if not _in_schedule(ruleset, view.ctx):
            _skip(trace, compiled, "ruleset outside its schedule")
            continue
        active.append(compiled)
        matched_here = _run_rules(compiled.rules, ruleset.mode, view, collector, trace)
        if matched_here and ruleset.stop_after_match:
            stopped_by = ruleset.name
    fallback_reason = "fallback: another rule matched" if collector.matched else ""
    for compiled in active:
        if fallback_reason:
            _skip(trace, compiled, fallback_reason, fallbacks=True)
        else:
            _run_rules(compiled.fallbacks, compiled.ruleset.mode, view, collector, trace)
    return collector.plan()


def _run_rules(
    rules: Sequence[CompiledRule],
    mode: str,
    view: View,
    collector: _Collector,
    trace: list[Outcome] | None,
) -> bool:
    matched_any = False
    for position, compiled in enumerate(rules):
        if compiled.when is None or compiled.when.test(view):
            collector.take(compiled)
            matched_any = True
            if trace is not None:
                trace.append(Outcome(compiled.label, True))
            if mode == "first_match":
                if trace is not None:
                    for later in rules[position + 1 :]:
                        trace.append(
                            Outcome(later.label, False, skipped="first_match: an earlier rule matched")
                        )
                break
        elif trace is not None:
            assert compiled.when is not None
            trace.append(Outcome(compiled.label, False, failure=compiled.when.why_not(view)))
    return matched_any


def _skip(
    trace: list[Outcome] | None, compiled: CompiledRuleset, reason: str, fallbacks: bool = False
) -> None:
    if trace is None:
        return
    for rule in compiled.fallbacks if fallbacks else compiled.rules + compiled.fallbacks:
        trace.append(Outcome(rule.label, False, skipped=reason))


def evaluate(rulesets: Sequence[Ruleset], dataset: Dataset, ctx: IngestContext) -> Plan:
    """Run enabled rulesets and collect what matching rules ask for.

    Actions keep the order of the matched rules; destinations are deduplicated in first-seen
    order, each at the highest priority any rule gave it. Raises ``ScheduleError`` when a
    scheduled ruleset is reached and ``ctx.now`` is None.
    """
    return run(compile_rulesets(rulesets), View(dataset, ctx))


def matches(condition: Condition, dataset: Dataset, ctx: IngestContext) -> bool:
    """Whether one condition holds (compiled on each call: for tests and tools, not the hot path)."""
    return compile_condition(condition).test(View(dataset, ctx))


__all__ = [
    "INFERENCE_CREATOR",
    "INFERENCE_GROUP",
    "AnalysisRequest",
    "CompiledRuleset",
    "Deferred",
    "Disposition",
    "DocumentKind",
    "FindingReport",
    "Outcome",
    "Plan",
    "PlanAction",
    "ScheduleError",
    "compile_pattern",
    "compile_rulesets",
    "evaluate",
    "finding_documents",
    "inference_block",
    "matches",
    "run",
]
