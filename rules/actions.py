"""Action models: tag edits applied in order to the outgoing copy, plus quarantine and drop.

Each action is a one-key mapping (``set:``, ``crosswalk:``...). Values are checked against the
target tag's VR when loaded; a value only known at run time (a copied value, a crosswalk result)
is checked when applied, and a failure there is a ``MorphError`` naming the tag.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydicom.tag import BaseTag

# Re-exported: the model actions live in rules.ai_actions.
from rules.ai_actions import STANDARDIZED_TAGS as STANDARDIZED_TAGS
from rules.ai_actions import AnalyzeAction as AnalyzeAction
from rules.ai_actions import AnalyzeSpec as AnalyzeSpec
from rules.ai_actions import InferAction as InferAction
from rules.ai_actions import InferSpec as InferSpec
from rules.ai_actions import StandardizeAction as StandardizeAction
from rules.ai_actions import StandardizedTag as StandardizedTag
from rules.ai_actions import StandardizeSpec as StandardizeSpec
from rules.anonymize.plan import AnonymizeSpec
from rules.conditions import check_regex
from rules.paths import private_ref
from rules.tags import NON_TEXT_VRS, dictionary_vr, is_known_vr, make_element, parse_tag, tag_label


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


def _check_dataset_tag(text: str) -> str:
    tag = parse_tag(text)
    if tag.group == 0x0002:
        raise ValueError(f"{tag_label(tag)} is file meta information, not part of the dataset")
    return text


def _resolve_vr(tag: BaseTag, vr: str | None) -> str:
    """The VR to write ``tag`` with: the one given, else the dictionary's; refuses what text cannot set."""
    label = tag_label(tag)
    if vr is not None and not is_known_vr(vr):
        raise ValueError(f"vr {vr!r} for {label} is not a DICOM VR")
    known = dictionary_vr(tag)
    if vr is None and known is None:
        raise ValueError(f"{label} is not in the DICOM dictionary; give its vr")
    if vr is None and known is not None and " or " in known:
        if all(choice in NON_TEXT_VRS for choice in known.split(" or ")):
            raise ValueError(f"{label} has VR {known}, which cannot be set from text")
        raise ValueError(f"{label} has VR {known!r} in the dictionary; give vr to choose one")
    resolved = vr or str(known)
    if resolved in NON_TEXT_VRS:
        raise ValueError(f"{label} has VR {resolved}, which cannot be set from text")
    return resolved


class _TagTarget(_Model):
    """An edit of one top-level tag written from text (``vr`` for private/ambiguous tags)."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    tag: str
    vr: str | None = None

    _tag_resolves = field_validator("tag")(_check_dataset_tag)

    @property
    def resolved_tag(self) -> BaseTag:
        return parse_tag(self.tag)

    @property
    def resolved_vr(self) -> str:
        return _resolve_vr(self.resolved_tag, self.vr)

    @model_validator(mode="after")
    def _writable(self) -> _TagTarget:
        _ = self.resolved_vr
        return self


class SetSpec(_TagTarget):
    """Give ``tag`` the text ``value`` (backslash separates multiple values; empty = empty value)."""

    value: str

    @model_validator(mode="after")
    def _value_fits_vr(self) -> SetSpec:
        make_element(self.resolved_tag, self.resolved_vr, self.value)
        return self


class DeleteSpec(_Model):
    tag: str

    _tag_resolves = field_validator("tag")(_check_dataset_tag)

    @property
    def resolved_tag(self) -> BaseTag:
        return parse_tag(self.tag)


class AffixSpec(_TagTarget):
    """Text added before (prepend) or after (append) the whole value; an absent tag gets ``value``."""

    value: str = Field(min_length=1)


class RegexReplaceSpec(_TagTarget):
    """``re.sub(pattern, replacement, value)`` on the whole value; ``\\1`` / ``\\g<name>`` refer to groups."""

    pattern: str
    replacement: str
    ignore_case: bool = False

    _regex_compiles = field_validator("pattern")(check_regex)

    @model_validator(mode="after")
    def _groups_exist(self) -> RegexReplaceSpec:
        compiled = re.compile(self.pattern)
        # A match with as many (empty) groups as the pattern lets re check every group reference
        # in the replacement now, instead of on the first instance that matches.
        empty = re.match("()" * compiled.groups, "")
        assert empty is not None
        template = self.replacement
        for name, index in compiled.groupindex.items():
            template = template.replace(f"\\g<{name}>", f"\\g<{index}>")
        try:
            empty.expand(template)
        except (re.error, IndexError) as exc:
            raise ValueError(f"replacement does not fit the pattern: {exc}") from None
        return self


class TagToTagSpec(_Model):
    """``{from: A, to: B}``: B gets A's value (converted through text when the VRs differ)."""

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)

    from_: str = Field(alias="from")
    to: str
    vr: str | None = None

    _tags_resolve = field_validator("from_", "to")(_check_dataset_tag)

    @model_validator(mode="after")
    def _distinct(self) -> TagToTagSpec:
        if self.source == self.target:
            raise ValueError("from and to name the same tag")
        _resolve_vr(self.target, self.vr)
        return self

    @property
    def source(self) -> BaseTag:
        return parse_tag(self.from_)

    @property
    def target(self) -> BaseTag:
        return parse_tag(self.to)

    @property
    def target_vr(self) -> str:
        return _resolve_vr(self.target, self.vr)


class CrosswalkSpec(_TagTarget):
    """Replace the value through lookup ``table``; ``on_missing`` says what an unknown key does."""

    table: str = Field(min_length=1, max_length=64)
    on_missing: Literal["keep", "default", "quarantine"] = "keep"
    default: str | None = None

    @model_validator(mode="after")
    def _default_given(self) -> CrosswalkSpec:
        if (self.on_missing == "default") != (self.default is not None):
            raise ValueError("default is required with on_missing: default, and only then")
        if self.default is not None:
            make_element(self.resolved_tag, self.resolved_vr, self.default)
        return self


class PrivateElementSpec(_Model):
    """One element written into a new private block: offset 0x00-0xFF, VR and text value."""

    model_config = ConfigDict(coerce_numbers_to_str=True)

    element: int = Field(ge=0, le=0xFF)
    vr: str
    value: str


class PrivateBlockSpec(_Model):
    group: int
    creator: str
    elements: list[PrivateElementSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid(self) -> PrivateBlockSpec:
        private_ref(self.group, self.creator, 0)
        for item in self.elements:
            # Block 0x10 stands in for wherever the block lands; only the VR/value check matters.
            tag = BaseTag((self.group << 16) | 0x1000 | item.element)
            _resolve_vr(tag, item.vr)
            make_element(tag, item.vr, item.value)
        return self


class RemovePrivateBlockSpec(_Model):
    group: int
    creator: str

    @model_validator(mode="after")
    def _valid(self) -> RemovePrivateBlockSpec:
        private_ref(self.group, self.creator, 0)
        return self


class ReasonSpec(_Model):
    # Shown to admins in the exception list: name the rule's intent, never a patient.
    reason: str = Field(min_length=1, max_length=200)


class SetAction(_Model):
    set: SetSpec


class DeleteAction(_Model):
    """Remove ``tag``; nothing happens when it is absent."""

    delete: DeleteSpec


class PrependAction(_Model):
    prepend: AffixSpec


class AppendAction(_Model):
    append: AffixSpec


class RegexReplaceAction(_Model):
    regex_replace: RegexReplaceSpec


class CopyAction(_Model):
    copy_: TagToTagSpec = Field(alias="copy")

    model_config = ConfigDict(validate_by_name=True, validate_by_alias=True, serialize_by_alias=True)


class MoveAction(_Model):
    move: TagToTagSpec


class CrosswalkAction(_Model):
    crosswalk: CrosswalkSpec


class AddPrivateBlockAction(_Model):
    add_private_block: PrivateBlockSpec


class RemovePrivateBlockAction(_Model):
    remove_private_block: RemovePrivateBlockSpec


class AnonymizeAction(_Model):
    """De-identify to PS3.15 Annex E with a named profile (rules.anonymize); see docs/anonymization.md."""

    anonymize: AnonymizeSpec


class QuarantineAction(_Model):
    """Send nothing; keep the instance in quarantine with ``reason``."""

    quarantine: ReasonSpec


class DropAction(_Model):
    """Send nothing and discard the instance; the caller records that it did (never silent)."""

    drop: ReasonSpec


_ACTION_CLASSES: dict[str, type[BaseModel]] = {
    "set": SetAction,
    "delete": DeleteAction,
    "prepend": PrependAction,
    "append": AppendAction,
    "regex_replace": RegexReplaceAction,
    "copy": CopyAction,
    "move": MoveAction,
    "crosswalk": CrosswalkAction,
    "add_private_block": AddPrivateBlockAction,
    "remove_private_block": RemovePrivateBlockAction,
    "anonymize": AnonymizeAction,
    "infer": InferAction,
    "analyze": AnalyzeAction,
    "standardize": StandardizeAction,
    "quarantine": QuarantineAction,
    "drop": DropAction,
}
_ACTION_KINDS: dict[type[BaseModel], str] = {cls: key for key, cls in _ACTION_CLASSES.items()}


def _action_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((key for key in _ACTION_CLASSES if key in value or f"{key}_" in value), None)
    return _ACTION_KINDS.get(type(value))


Action = Annotated[
    Annotated[SetAction, Tag("set")]
    | Annotated[DeleteAction, Tag("delete")]
    | Annotated[PrependAction, Tag("prepend")]
    | Annotated[AppendAction, Tag("append")]
    | Annotated[RegexReplaceAction, Tag("regex_replace")]
    | Annotated[CopyAction, Tag("copy")]
    | Annotated[MoveAction, Tag("move")]
    | Annotated[CrosswalkAction, Tag("crosswalk")]
    | Annotated[AddPrivateBlockAction, Tag("add_private_block")]
    | Annotated[RemovePrivateBlockAction, Tag("remove_private_block")]
    | Annotated[AnonymizeAction, Tag("anonymize")]
    | Annotated[InferAction, Tag("infer")]
    | Annotated[AnalyzeAction, Tag("analyze")]
    | Annotated[StandardizeAction, Tag("standardize")]
    | Annotated[QuarantineAction, Tag("quarantine")]
    | Annotated[DropAction, Tag("drop")],
    Discriminator(
        _action_kind,
        custom_error_type="invalid_action",
        custom_error_message="an action is a mapping with one key: " + ", ".join(_ACTION_CLASSES),
    ),
]

# Actions that decide the instance's fate rather than edit it: the engine keeps them out of Plan.actions.
DISPOSITION_ACTIONS = (QuarantineAction, DropAction)
