"""Condition models: a tag or context value tested by one operator, combined with all / any / not.

Everything an operator needs is checked here, when the rule is loaded: tag paths resolve, regexes
compile, ranges are ordered, date bounds fit the tag's VR. Messages name fields and tags, never
values, since a rule may name a patient and errors get logged.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from rules.datetimes import DATE_TIME_VRS, sortable_operand
from rules.paths import TagPath, parse_path, path_for


class _Model(BaseModel):
    # Inputs stay out of error messages: a rule may name a patient, and errors get logged.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def check_regex(pattern: str | None) -> str | None:
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
    return pattern


class NumericRange(_Model):
    """Inclusive bounds; either may be left out."""

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> NumericRange:
        if self.min is None and self.max is None:
            raise ValueError("a range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("range min is greater than max")
        return self


TEXT_OPERATORS = ("equals", "not_equals", "contains", "starts_with", "ends_with", "regex", "wildcard", "in")
DATE_OPERATORS = ("after", "before", "between")
PRESENCE_OPERATORS = ("exists", "missing")


class _Operators(_Model):
    """Exactly one operator field is set; ``ignore_case`` qualifies the text operators."""

    model_config = ConfigDict(
        coerce_numbers_to_str=True, validate_by_name=True, validate_by_alias=True, serialize_by_alias=True
    )

    OPERATORS: ClassVar[tuple[str, ...]] = (*TEXT_OPERATORS, "range", *DATE_OPERATORS, *PRESENCE_OPERATORS)

    equals: str | None = None
    not_equals: str | None = None
    contains: str | None = None
    starts_with: str | None = None
    ends_with: str | None = None
    regex: str | None = None
    wildcard: str | None = None
    in_: list[str] | None = Field(default=None, alias="in", min_length=1)
    range: NumericRange | None = None
    after: str | None = None
    before: str | None = None
    between: list[str] | None = Field(default=None, min_length=2, max_length=2)
    exists: bool | None = None
    missing: bool | None = None
    ignore_case: bool = False

    _regex_compiles = field_validator("regex")(check_regex)

    def operators_given(self) -> list[str]:
        return [name for name in self.OPERATORS if getattr(self, _field(name)) is not None]

    @property
    def operator(self) -> str:
        return self.operators_given()[0]

    def operand(self) -> Any:
        return getattr(self, _field(self.operator))

    def _check_operator(self, subject: str) -> str:
        given = self.operators_given()
        if len(given) != 1:
            found = ", ".join(given) if given else "none"
            raise ValueError(
                f"exactly one operator of {', '.join(self.OPERATORS)} is required for {subject}; found: {found}"
            )
        if self.ignore_case and given[0] not in TEXT_OPERATORS:
            raise ValueError(
                f"ignore_case applies to equals and regex and the other text operators, not to {given[0]}"
            )
        return given[0]


def _field(operator: str) -> str:
    return "in_" if operator == "in" else operator


class PrivateTagSpec(_Model):
    """``{group: 0x0009, creator: "ACME 1.0", element: 0x10}``: a tag by its private block's creator."""

    group: int
    creator: str
    element: int

    @model_validator(mode="after")
    def _valid(self) -> PrivateTagSpec:
        path_for(self.group, self.creator, self.element)
        return self


class TagCondition(_Operators):
    """Tests the value(s) at ``tag`` (a keyword, number or path) or ``private`` (creator + element).

    A path through ``[*]`` reaches several elements; the condition holds when any of them passes.
    Value operators never hold for an absent tag; ``missing`` and ``exists: false`` do.
    """

    tag: str | None = None
    private: PrivateTagSpec | None = None

    @field_validator("tag")
    @classmethod
    def _tag_resolves(cls, text: str | None) -> str | None:
        if text is not None:
            parse_path(text)
        return text

    @model_validator(mode="after")
    def _one_operator(self) -> TagCondition:
        if (self.tag is None) == (self.private is None):
            raise ValueError("give either tag or private, not both or neither")
        subject = f"tag {self.tag!r}" if self.tag is not None else "the private tag"
        operator = self._check_operator(subject)
        if operator in DATE_OPERATORS:
            vr = self.path.leaf_vr()
            if vr not in DATE_TIME_VRS:
                raise ValueError(f"{operator} compares dates and times: {subject} has VR {vr or 'unknown'}")
            bounds = self.between if operator == "between" else [self.operand()]
            values = [sortable_operand(vr, bound) for bound in bounds or []]
            if operator == "between" and values[0] > values[1]:
                raise ValueError("between: the first bound is later than the second")
        return self

    @property
    def path(self) -> TagPath:
        if self.private is not None:
            return path_for(self.private.group, self.private.creator, self.private.element)
        return parse_path(str(self.tag))

    @property
    def resolved_tag(self) -> Any:
        """The final tag of the path (a ``PrivateRef`` for private tags)."""
        return self.path.leaf


CONTEXT_FIELDS = ("calling_ae", "called_ae", "source", "series_instance_count")


class ContextCondition(_Operators):
    """Tests how the instance arrived: ``{context: calling_ae, equals: CT01}``.

    ``source`` is ``listener``, ``stowrs`` or a poller's name; ``series_instance_count`` is the
    number of instances of the series received so far, as the caller counted them; ``resent`` is
    ``true`` when the same SOP Instance UID with the same content was received and delivered before.
    """

    context: Literal["calling_ae", "called_ae", "source", "series_instance_count", "resent"]

    @model_validator(mode="before")
    @classmethod
    def _yaml_booleans(cls, data: Any) -> Any:
        # `equals: true` arrives from YAML as a boolean; `resent` compares its text form.
        if isinstance(data, dict) and data.get("context") == "resent":
            return {k: (str(v).lower() if isinstance(v, bool) else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _one_operator(self) -> ContextCondition:
        operator = self._check_operator(f"context {self.context!r}")
        if operator in DATE_OPERATORS:
            raise ValueError(f"{operator} applies to DICOM dates and times, not to context {self.context!r}")
        numeric = self.context == "series_instance_count"
        if numeric and operator not in ("equals", "not_equals", "in", "range"):
            raise ValueError(f"series_instance_count takes equals, not_equals, in or range, not {operator}")
        if not numeric and operator == "range":
            raise ValueError(f"range compares numbers; context {self.context!r} is text")
        if operator in PRESENCE_OPERATORS:
            raise ValueError(f"context {self.context!r} is always present; {operator} does not apply")
        if self.context == "resent" and (
            operator not in ("equals", "not_equals") or str(self.operand()).lower() not in ("true", "false")
        ):
            raise ValueError("context 'resent' is true or false: use equals: true (or false)")
        return self


class InferenceSpec(_Model):
    """What a model's result must say: ``label`` (the top label, or with ``min_score`` that label's score)."""

    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    label: str | None = Field(default=None, min_length=1, max_length=64)
    min_score: float | None = Field(default=None, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _score_needs_label(self) -> InferenceSpec:
        if self.min_score is not None and self.label is None:
            raise ValueError("min_score needs the label whose score it bounds")
        return self


class InferenceCondition(_Model):
    """Tests a model's result for this instance (an earlier ``infer`` action produced it):
    ``{inference: {model: chest-xray, label: pneumonia, min_score: 0.8}}``. Without ``min_score`` the
    label must be the model's top label; without ``label`` any successful result matches. False when
    the model has not run, skipped the instance or failed."""

    inference: InferenceSpec


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
_CONDITION_KEYS: dict[str, str] = {
    "tag": "tag",
    "private": "tag",
    "context": "context",
    "inference": "inference",
    "all": "all",
    "any": "any",
    "not": "not",
    "not_": "not",
}
_CONDITION_CLASSES: dict[type[BaseModel], str] = {
    TagCondition: "tag",
    ContextCondition: "context",
    InferenceCondition: "inference",
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
    | Annotated[ContextCondition, Tag("context")]
    | Annotated[InferenceCondition, Tag("inference")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotOf, Tag("not")],
    Discriminator(
        _condition_kind,
        custom_error_type="invalid_condition",
        custom_error_message=(
            "a condition is a mapping with one of the keys 'tag', 'all', 'any' or 'not' "
            "(or 'private', 'context', 'inference')"
        ),
    ),
]

for _model in (AllOf, AnyOf, NotOf):
    _model.model_rebuild()
