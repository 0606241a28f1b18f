"""Rule configuration as pydantic models: rulesets of rules, each a condition tree plus actions.

Everything is validated when loaded (tags resolvable, regexes compile, one operator per condition,
set values valid for their VR), so evaluation never meets a malformed rule. The models round-trip
through ``model_dump(mode="json", by_alias=True, exclude_none=True)`` for storage as JSON.

Conditions and actions are tagged unions keyed on the YAML key that names them (``tag``, ``all``,
``any``, ``not``; ``set``, ``delete``), so a new kind is one model plus one entry in the key table.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydicom.tag import BaseTag

from rules.tags import NON_TEXT_VRS, dictionary_vr, is_known_vr, make_element, parse_tag, tag_label

# Same pattern as destination names (axiom.domain.destinations), which rules/ may not import.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Model(BaseModel):
    # Inputs stay out of error messages: a rule may name a patient, and errors get logged.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _check_tag(text: str) -> str:
    parse_tag(text)
    return text


def _check_dataset_tag(text: str) -> str:
    tag = parse_tag(text)
    if tag.group == 0x0002:
        raise ValueError(f"{tag_label(tag)} is file meta information, not part of the dataset")
    return text


class IngestContext(_Model):
    """How an instance arrived; conditions on it are reserved for a later version."""

    calling_ae: str = ""
    called_ae: str = ""
    source: str = "listener"
    received_at: datetime | None = None


# ---------------------------------------------------------------- conditions


class TagCondition(_Model):
    """Compares one tag's value, as text, with exactly one operator.

    Multi-valued elements compare as their backslash-joined text; a missing tag never equals or
    matches anything. ``exists: true`` means present with a non-empty value.
    """

    model_config = ConfigDict(coerce_numbers_to_str=True)

    # Each operator is an optional field; adding one means adding it here and to engine.OPERATORS.
    OPERATORS: ClassVar[tuple[str, ...]] = ("equals", "regex", "exists")

    tag: str
    equals: str | None = None
    regex: str | None = None
    exists: bool | None = None
    ignore_case: bool = False

    _tag_resolves = field_validator("tag")(_check_tag)

    @field_validator("regex")
    @classmethod
    def _regex_compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from None
        return pattern

    @model_validator(mode="after")
    def _one_operator(self) -> TagCondition:
        given = self.operators_given()
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"exactly one operator of {', '.join(self.OPERATORS)} is required for tag "
                f"{self.tag!r}; found: {found}"
            )
        if self.ignore_case and given[0] == "exists":
            raise ValueError("ignore_case applies to equals and regex, not to exists")
        return self

    def operators_given(self) -> list[str]:
        return [name for name in self.OPERATORS if getattr(self, name) is not None]

    @property
    def operator(self) -> str:
        return self.operators_given()[0]

    @property
    def resolved_tag(self) -> BaseTag:
        return parse_tag(self.tag)


class AllOf(_Model):
    """True when every sub-condition is true."""

    all: list[Condition] = Field(min_length=1)


class AnyOf(_Model):
    """True when at least one sub-condition is true."""

    any: list[Condition] = Field(min_length=1)


class NotOf(_Model):
    """True when its sub-condition is false. Written ``not:`` in YAML."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    not_: Condition = Field(alias="not")


# YAML key -> condition kind; the first key present in a mapping picks the model, whose own
# validation then rejects any stray key by name.
_CONDITION_KEYS: dict[str, str] = {"tag": "tag", "all": "all", "any": "any", "not": "not", "not_": "not"}
_CONDITION_CLASSES: dict[type[BaseModel], str] = {
    TagCondition: "tag",
    AllOf: "all",
    AnyOf: "any",
    NotOf: "not",
}


def _condition_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((_CONDITION_KEYS[key] for key in _CONDITION_KEYS if key in value), None)
    return _CONDITION_CLASSES.get(type(value))


Condition = Annotated[
    Annotated[TagCondition, Tag("tag")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="invalid_condition",
        custom_error_message="a condition is a mapping with one of the keys 'tag', 'all', 'any' or 'not'",
    ),
]


# ---------------------------------------------------------------- actions


class SetSpec(_Model):
    """Give ``tag`` the text ``value`` (backslash separates multiple values; empty = empty value)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    tag: str
    value: str
    # Needed for private and unknown tags and ambiguous dictionary VRs; otherwise the dictionary's.
    vr: str | None = None

    _tag_resolves = field_validator("tag")(_check_dataset_tag)

    @model_validator(mode="after")
    def _value_fits_vr(self) -> SetSpec:
        tag = self.resolved_tag
        label = tag_label(tag)
        if self.vr is not None and not is_known_vr(self.vr):
            raise ValueError(f"vr {self.vr!r} for {label} is not a DICOM VR")
        known = dictionary_vr(tag)
        if self.vr is None and known is None:
            raise ValueError(f"{label} is not in the DICOM dictionary; give its vr")
        if self.vr is None and known is not None and " or " in known:
            if all(choice in NON_TEXT_VRS for choice in known.split(" or ")):
                raise ValueError(f"{label} has VR {known}, which cannot be set from text")
            raise ValueError(f"{label} has VR {known!r} in the dictionary; give vr to choose one")
        make_element(tag, self.resolved_vr, self.value)
        return self

    @property
    def resolved_tag(self) -> BaseTag:
        return parse_tag(self.tag)

    @property
    def resolved_vr(self) -> str:
        return self.vr or str(dictionary_vr(self.resolved_tag))


class DeleteSpec(_Model):
    tag: str

    _tag_resolves = field_validator("tag")(_check_dataset_tag)

    @property
    def resolved_tag(self) -> BaseTag:
        return parse_tag(self.tag)


class SetAction(_Model):
    set: SetSpec


class DeleteAction(_Model):
    """Remove ``tag``; nothing happens when it is absent."""

    delete: DeleteSpec


_ACTION_KEYS: tuple[str, ...] = ("set", "delete")
_ACTION_CLASSES: dict[type[BaseModel], str] = {SetAction: "set", DeleteAction: "delete"}


def _action_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in _ACTION_KEYS if key in value), None)
    return _ACTION_CLASSES.get(type(value))


Action = Annotated[
    Annotated[SetAction, Tag("set")] | Annotated[DeleteAction, Tag("delete")],
    Discriminator(
        _action_kind,
        custom_error_type="invalid_action",
        custom_error_message="an action is a mapping with one of the keys 'set' or 'delete'",
    ),
]


# ---------------------------------------------------------------- rules


class Rule(_Model):
    name: Name
    # None matches every instance.
    when: Condition | None = None
    actions: list[Action] = Field(default_factory=list)
    destinations: list[Name] = Field(default_factory=list)
    enabled: bool = True


class Ruleset(_Model):
    name: Name
    description: str = ""
    # Lower runs first; equal priorities run in name order.
    priority: int = 100
    enabled: bool = True
    # first_match: stop this ruleset at its first matching rule (other rulesets still run).
    mode: Literal["all_matches", "first_match"] = "all_matches"
    rules: list[Rule]

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Ruleset:
        counts = Counter(rule.name for rule in self.rules)
        duplicates = sorted(name for name, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"rule names must be unique within a ruleset; repeated: {', '.join(duplicates)}")
        return self


for _model in (AllOf, AnyOf, NotOf, Rule, Ruleset):
    _model.model_rebuild()
