"""Rule configuration as pydantic models: rulesets of ordered rules, each a condition tree plus actions.

Everything is validated when loaded (tags and paths resolve, regexes compile, one operator per
condition, values valid for their VR, time zones exist), so evaluation never meets a malformed rule.
The models round-trip through ``model_dump(mode="json", by_alias=True, exclude_none=True)`` for
storage as JSON. Conditions live in ``rules.conditions``, actions in ``rules.actions``; both are
re-exported here, the one place callers import the model from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.actions import (
    Action,
    AddPrivateBlockAction,
    AnalyzeAction,
    AnalyzeSpec,
    AnonymizeAction,
    AppendAction,
    CopyAction,
    CrosswalkAction,
    DeleteAction,
    DeleteSpec,
    DropAction,
    InferAction,
    InferSpec,
    MoveAction,
    PrependAction,
    QuarantineAction,
    RegexReplaceAction,
    RemovePrivateBlockAction,
    SetAction,
    SetSpec,
    StandardizeAction,
    StandardizeSpec,
)
from rules.conditions import (
    AllOf,
    AnyOf,
    Condition,
    ContextCondition,
    InferenceCondition,
    InferenceSpec,
    NotOf,
    TagCondition,
)
from rules.schedule import Schedule

# Same pattern as destination names (axiom.domain.destinations), which rules/ may not import.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]
Priority = Literal["high", "default", "low"]
# (table, key) -> value, or None when the table has no such key. Must be pure (a dict lookup, or a
# cache filled before evaluation): the engine calls it while evaluating.
Lookup = Callable[[str, str], str | None]


class _Model(BaseModel):
    # Inputs stay out of error messages: a rule may name a patient, and errors get logged.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _no_tables(table: str, key: str) -> str | None:
    return None


class InferenceResult(_Model):
    """A model's result for one instance, as the caller passes it in (the engine runs no model).

    ``status`` is ``ok`` (label and scores are set), ``skipped`` (the model does not take this
    modality/SOP class) or ``failed``; any of them means the model was tried, so ``infer`` is done.
    """

    status: Literal["ok", "skipped", "failed"] = "ok"
    version: str = ""
    label: str = ""
    scores: dict[str, float] = Field(default_factory=dict)


class IngestContext(_Model):
    """How and when an instance arrived, and what the caller knows beyond the dataset."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    calling_ae: str = ""
    called_ae: str = ""
    source: str = "listener"
    received_at: datetime | None = None
    # The clock reading for schedules; the engine has no clock of its own. Must be timezone-aware.
    now: datetime | None = None
    # Instances of this series received so far, counted by the caller.
    series_instance_count: int = Field(default=0, ge=0)
    # The same SOP Instance UID with the same content was received and delivered before.
    resent: bool = False
    # Model name -> its result for this instance, filled by the caller after an `infer` action ran.
    inference: dict[str, InferenceResult] = Field(default_factory=dict)
    # Tag keyword -> site vocabulary term, filled by the caller for `standardize` actions.
    standardized: dict[str, str] = Field(default_factory=dict)
    lookup: Lookup = Field(default=_no_tables, exclude=True)
    # The deployment secret the anonymize action keys UIDs, pseudonyms and date shifts with.
    anon_secret: str = Field(default="", exclude=True, repr=False)

    @field_validator("now")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("now must carry a time zone (e.g. datetime.now(UTC))")
        return value


class DestinationRef(_Model):
    """``{name: pacs, priority: high}`` in a rule's destination list."""

    name: Name
    priority: Priority = "default"


class CountQuery(_Model):
    """A DICOM peer that knows the series/study (the sending PACS): asked by C-FIND how many
    instances it holds, so a group can complete before its quiet period ends."""

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)


class Trigger(_Model):
    """When a matching rule's destinations receive the instance.

    ``instance`` (the default): at once. ``series``/``study``: once, for the whole series or study,
    when it is complete: ``quiet_seconds`` after its last arrival (None: the deployment's default), or
    sooner when the expected number of instances is known and reached. ``straggler`` says what
    happens to an instance that arrives after its group was sent: ``send_alone`` sends just it,
    ``resend_study`` sends the whole group again with it, ``hold`` keeps it as an exception for a
    person to decide. ``count_query`` names a peer to ask for the expected count when the data does
    not announce it. ``trigger: study`` is short for ``trigger: {level: study}``.
    """

    level: Literal["instance", "series", "study"] = "instance"
    quiet_seconds: float | None = Field(default=None, gt=0)
    straggler: Literal["send_alone", "resend_study", "hold"] = "send_alone"
    count_query: CountQuery | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"level": data} if isinstance(data, str) else data


class Rule(_Model):
    """One rule. ``destinations`` holds names; priorities written in the list move to ``priorities``.

    Keeping ``destinations`` a list of names lets everything that checks references read it as
    before; ``[archive, {name: pacs, priority: high}]`` loads as ``destinations: [archive, pacs]``
    plus ``priorities: {pacs: high}``, and both forms load to the same rule.
    """

    name: Name
    # None matches every instance.
    when: Condition | None = None
    actions: list[Action] = Field(default_factory=list)
    destinations: list[Name] = Field(default_factory=list)
    priorities: dict[Name, Priority] = Field(default_factory=dict)
    # Fires only when no other rule, in any ruleset, matched this instance.
    fallback: bool = False
    enabled: bool = True
    # None: per instance, like ``trigger: instance`` (kept None so stored rules stay as they were).
    trigger: Trigger | None = None

    @property
    def grouped(self) -> bool:
        """Whether the rule sends whole series/studies once complete instead of each instance."""
        return self.trigger is not None and self.trigger.level != "instance"

    @model_validator(mode="before")
    @classmethod
    def _split_destination_priorities(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("destinations"), list):
            return data
        names: list[Any] = []
        priorities = dict(data.get("priorities") or {})
        for item in data["destinations"]:
            if isinstance(item, dict | DestinationRef):
                ref = DestinationRef.model_validate(item)
                names.append(ref.name)
                if ref.priority != "default":
                    priorities[ref.name] = ref.priority
            else:
                names.append(item)
        return {**data, "destinations": names, "priorities": priorities}

    @model_validator(mode="after")
    def _grouped_rules_route(self) -> Rule:
        if self.trigger is not None and self.grouped and not self.destinations:
            level = self.trigger.level
            raise ValueError(
                f"a rule with trigger {level!r} needs destinations: it sends the whole {level} "
                "to them once complete"
            )
        return self

    @model_validator(mode="after")
    def _analyze_after_anonymize(self) -> Rule:
        anonymized = False
        for action in self.actions:
            anonymized = anonymized or isinstance(action, AnonymizeAction)
            if isinstance(action, AnalyzeAction) and not anonymized:
                raise ValueError(
                    "an analyze action sends the image out of the site: put an anonymize action "
                    "before it in the same rule"
                )
        return self

    @model_validator(mode="after")
    def _priorities_name_destinations(self) -> Rule:
        stray = sorted(set(self.priorities) - set(self.destinations))
        if stray:
            raise ValueError(
                f"priorities given for destinations the rule does not route to: {', '.join(stray)}"
            )
        return self


class Ruleset(_Model):
    name: Name
    description: str = ""
    # Lower runs first; equal priorities run in name order.
    priority: int = 100
    enabled: bool = True
    # first_match: stop this ruleset at its first matching rule (other rulesets still run).
    mode: Literal["all_matches", "first_match"] = "all_matches"
    # Once a rule of this ruleset matched, rulesets after it (lower priority) are not evaluated.
    stop_after_match: bool = False
    # None: always active. Otherwise active only inside a window; evaluation needs ctx.now.
    schedule: Schedule | None = None
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Ruleset:
        counts = Counter(rule.name for rule in self.rules)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"rule names must be unique within a ruleset; repeated: {', '.join(duplicates)}")
        return self


__all__ = [
    "NAME_PATTERN",
    "Action",
    "AddPrivateBlockAction",
    "AllOf",
    "AnalyzeAction",
    "AnalyzeSpec",
    "AnonymizeAction",
    "AnyOf",
    "AppendAction",
    "Condition",
    "ContextCondition",
    "CopyAction",
    "CountQuery",
    "CrosswalkAction",
    "DeleteAction",
    "DeleteSpec",
    "DestinationRef",
    "DropAction",
    "InferAction",
    "InferSpec",
    "InferenceCondition",
    "InferenceResult",
    "InferenceSpec",
    "IngestContext",
    "Lookup",
    "MoveAction",
    "Name",
    "NotOf",
    "PrependAction",
    "Priority",
    "QuarantineAction",
    "RegexReplaceAction",
    "RemovePrivateBlockAction",
    "Rule",
    "Ruleset",
    "Schedule",
    "SetAction",
    "SetSpec",
    "StandardizeAction",
    "StandardizeSpec",
    "TagCondition",
    "Trigger",
]
