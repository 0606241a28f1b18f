"""What evaluation decides for one instance: the ``Plan`` (disposition, destinations, the tag edits
for morph, groups to wait for, models to run, documents to send, analyses to ask for) and the pieces
it is built from. Pure data, built by ``rules.engine``; ``rules.engine`` re-exports every name."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rules.actions import AddPrivateBlockAction, AnalyzeSpec, InferSpec, PrivateBlockSpec, PrivateElementSpec
from rules.anonymize.plan import AnonymizeStep, Pseudonym
from rules.model import Action, InferenceResult, Priority, Trigger

Disposition = Literal["route", "quarantine", "drop"]
# What a plan asks morph to do: the rules' actions, with anonymize resolved into a step.
PlanAction = Action | AnonymizeStep
# Where `infer: {write_private: true}` writes a model's result in the outgoing copy.
INFERENCE_GROUP = 0x0073
INFERENCE_CREATOR = "AXIOM AI"


@dataclass(frozen=True)
class Deferred:
    """A matched series/study-complete rule: its destinations get the instance with its whole group."""

    rule: str  # "ruleset/rule"
    trigger: Trigger
    destinations: dict[str, Priority]


DocumentKind = Literal["sr", "ko"]


@dataclass(frozen=True)
class FindingReport:
    """One model's ok result to send as a document: a Basic Text SR (``sr``) or a Key Object
    Selection (``ko``), to ``destinations`` (of per-instance rules) now, and held in the groups of
    ``held_by`` (series/study-complete rules, "ruleset/rule") to go with the images they send."""

    model: str
    result: InferenceResult
    destinations: tuple[str, ...]
    kind: DocumentKind = "sr"
    held_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class AnalysisRequest:
    """An ``analyze`` action with no stored answer yet, and what the caller sends it.

    ``actions`` are the plan's edits up to the action (earlier rules' and this rule's own, its
    anonymize step included): the caller applies them to the received dataset and sends the
    result's rendered image, only if an anonymize step is among them and the result says
    PatientIdentityRemoved YES (a YES the sender wrote is not trusted).
    """

    rule: str  # "ruleset/rule"
    spec: AnalyzeSpec
    actions: tuple[PlanAction, ...]


@dataclass(frozen=True)
class Plan:
    """The outcome of evaluation. ``matched`` entries read ``"ruleset/rule"``.

    ``disposition`` is ``route`` unless a matching rule quarantined or dropped the instance; then
    ``destinations`` and ``deferred`` are empty and ``reason`` says why. ``priorities`` has an entry
    per destination. ``destinations`` are those of per-instance rules; the tag edits of every matched
    rule apply to the one outgoing copy, whichever its trigger.
    """

    matched: tuple[str, ...] = ()
    actions: tuple[PlanAction, ...] = ()
    destinations: tuple[str, ...] = ()
    priorities: dict[str, Priority] = field(default_factory=dict)
    disposition: Disposition = "route"
    reason: str = ""
    # Series/study-complete rules that matched: held until their group is complete.
    deferred: tuple[Deferred, ...] = ()
    # Models a matched rule wants run whose result the context does not carry yet: the caller runs
    # them and evaluates again with the results, before routing anything.
    infer: tuple[InferSpec, ...] = ()
    # Findings to send as documents (`infer: {emit_sr: true}` / `{emit_kos: true}`, result ok), with
    # the rules that asked: the caller builds each document, sends it to per-instance rules'
    # destinations and holds it in grouped rules' groups.
    reports: tuple[FindingReport, ...] = ()
    # Analyses a matched rule asks for whose answer the context does not carry yet (after `infer`).
    analyze: tuple[AnalysisRequest, ...] = ()

    @property
    def pseudonyms(self) -> tuple[Pseudonym, ...]:
        """The patient mappings the plan's anonymize steps use, for the caller to store."""
        return tuple(a.pseudonym for a in self.actions if isinstance(a, AnonymizeStep))


def finding_documents(spec: InferSpec, result: InferenceResult) -> list[DocumentKind]:
    """The documents an ``infer`` action asks for given its model's result (none unless ok)."""
    if result.status != "ok":
        return []
    kinds: list[DocumentKind] = ["sr"] if spec.emit_sr else []
    if spec.emit_kos and (spec.kos_labels is None or result.label in spec.kos_labels):
        kinds.append("ko")
    return kinds


def inference_block(model: str, result: InferenceResult) -> AddPrivateBlockAction:
    """The private block holding one model's result: model, version, top label, its score, all scores."""
    scores = "; ".join(f"{name}={value:.4f}" for name, value in result.scores.items())
    elements = [
        PrivateElementSpec(element=0x01, vr="LO", value=model),
        PrivateElementSpec(element=0x02, vr="LO", value=result.version),
        PrivateElementSpec(element=0x03, vr="LO", value=result.label),
        PrivateElementSpec(element=0x04, vr="DS", value=f"{result.scores.get(result.label, 0.0):.6f}"),
        PrivateElementSpec(element=0x05, vr="LT", value=scores),
    ]
    spec = PrivateBlockSpec(group=INFERENCE_GROUP, creator=INFERENCE_CREATOR, elements=elements)
    return AddPrivateBlockAction(add_private_block=spec)
