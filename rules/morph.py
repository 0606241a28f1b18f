"""Apply a plan's tag edits to a copy of the dataset, leaving the received one as it was."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TypeVar

from pydicom import Dataset
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import BaseTag

from rules.actions import (
    AddPrivateBlockAction,
    AffixSpec,
    AppendAction,
    CopyAction,
    DeleteAction,
    DeleteSpec,
    MoveAction,
    PrependAction,
    PrivateBlockSpec,
    RegexReplaceAction,
    RegexReplaceSpec,
    RemovePrivateBlockAction,
    RemovePrivateBlockSpec,
    SetAction,
    SetSpec,
    TagToTagSpec,
)
from rules.anonymize.plan import AnonymizeStep
from rules.anonymize.walker import anonymize_in_place
from rules.compiler import compile_pattern
from rules.model import Action
from rules.tags import element_text, make_element, tag_label

DatasetT = TypeVar("DatasetT", bound=Dataset)


class MorphError(ValueError):
    """An action could not be applied. The message names the tag and VR, never the value."""


def _copy_element(elem: DataElement | RawDataElement) -> DataElement | RawDataElement:
    if isinstance(elem, RawDataElement):
        # An unparsed element is an immutable tuple of bytes: both datasets can hold it.
        return elem
    # deepcopy treats bytes (pixel data) as atomic, so this copies containers, never the pixel bytes.
    return copy.deepcopy(elem)


def copy_dataset(dataset: DatasetT) -> DatasetT:
    """A copy whose elements can be changed without touching ``dataset``; pixel bytes are shared.

    ``copy.copy`` alone would share the element dict, and ``copy.deepcopy`` would also duplicate a
    decoded pixel array and the file buffer, so the containers are replaced one by one.
    """
    clone = copy.copy(dataset)
    clone._dict = {tag: _copy_element(elem) for tag, elem in dataset._dict.items()}
    # Private blocks point at the dataset that made them; the copy builds its own on demand.
    clone._private_blocks = {}
    # The decoded array belongs to the original's pixel data; the copy decodes its own if asked.
    clone._pixel_array = None
    clone._pixel_id = {}
    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None:
        clone.file_meta = copy_dataset(file_meta)
    return clone


def _write(dataset: Dataset, tag: BaseTag, vr: str, text: str) -> None:
    try:
        dataset[tag] = make_element(tag, vr, text)
    except ValueError:
        raise MorphError(f"cannot set {tag_label(tag)}: value is not valid for VR {vr}") from None


def _text(dataset: Dataset, tag: BaseTag) -> str | None:
    elem = dataset.get(tag)
    return None if elem is None else element_text(elem)


def _apply_set(dataset: Dataset, spec: SetSpec) -> None:
    _write(dataset, spec.resolved_tag, spec.resolved_vr, spec.value)


def _apply_delete(dataset: Dataset, spec: DeleteSpec) -> None:
    tag = spec.resolved_tag
    if tag in dataset:
        del dataset[tag]


def _apply_affix(dataset: Dataset, spec: AffixSpec, *, before: bool) -> None:
    current = _text(dataset, spec.resolved_tag) or ""
    _write(
        dataset, spec.resolved_tag, spec.resolved_vr, spec.value + current if before else current + spec.value
    )


def _apply_regex_replace(dataset: Dataset, spec: RegexReplaceSpec) -> None:
    current = _text(dataset, spec.resolved_tag)
    if current is None:
        return  # nothing to rewrite: absent, or a sequence/binary value
    replaced = compile_pattern(spec.pattern, spec.ignore_case).sub(spec.replacement, current)
    if replaced != current:
        _write(dataset, spec.resolved_tag, spec.resolved_vr, replaced)


def _apply_copy(dataset: Dataset, spec: TagToTagSpec, *, move: bool) -> None:
    source = dataset.get(spec.source)
    if source is None:
        return  # an absent source leaves the target as it is
    target, vr = spec.target, spec.target_vr
    if vr == source.VR:
        dataset[target] = DataElement(target, vr, copy.deepcopy(source.value))
    else:
        text = element_text(source)
        if text is None:
            raise MorphError(f"cannot copy {tag_label(spec.source)} (VR {source.VR}) to VR {vr}")
        _write(dataset, target, vr, text)
    if move:
        del dataset[spec.source]


def _apply_add_private_block(dataset: Dataset, spec: PrivateBlockSpec) -> None:
    # pydicom reuses the creator's block when present, else takes the first free one.
    block = dataset.private_block(spec.group, spec.creator, create=True)
    for item in spec.elements:
        tag = block.get_tag(item.element)
        _write(dataset, tag, item.vr, item.value)


def _apply_remove_private_block(dataset: Dataset, spec: RemovePrivateBlockSpec) -> None:
    try:
        block = dataset.private_block(spec.group, spec.creator)
    except KeyError:
        return
    first = block.get_tag(0)
    # A slice of the dataset is a new Dataset holding the block's elements (gggg,xx00-xxFF).
    for elem in list(dataset[first : first + 0x100]):
        del dataset[elem.tag]
    del dataset[BaseTag((spec.group << 16) | (first.element >> 8))]
    dataset._private_blocks.pop((spec.group, spec.creator), None)


def _apply(result: Dataset, action: Action | AnonymizeStep) -> None:
    if isinstance(action, AnonymizeStep):
        anonymize_in_place(result, action)
    elif isinstance(action, SetAction):
        _apply_set(result, action.set)
    elif isinstance(action, DeleteAction):
        _apply_delete(result, action.delete)
    elif isinstance(action, PrependAction):
        _apply_affix(result, action.prepend, before=True)
    elif isinstance(action, AppendAction):
        _apply_affix(result, action.append, before=False)
    elif isinstance(action, RegexReplaceAction):
        _apply_regex_replace(result, action.regex_replace)
    elif isinstance(action, CopyAction):
        _apply_copy(result, action.copy_, move=False)
    elif isinstance(action, MoveAction):
        _apply_copy(result, action.move, move=True)
    elif isinstance(action, AddPrivateBlockAction):
        _apply_add_private_block(result, action.add_private_block)
    elif isinstance(action, RemovePrivateBlockAction):
        _apply_remove_private_block(result, action.remove_private_block)
    else:
        # Crosswalk, anonymize, quarantine and drop are resolved by the engine; only steps reach morph.
        raise TypeError(f"unsupported action type {type(action).__name__}")


def apply_actions(dataset: DatasetT, actions: Sequence[Action | AnonymizeStep]) -> DatasetT:
    """Return a new dataset with ``actions`` applied in order; ``dataset`` itself is not changed.

    With no actions the input object itself is returned, so callers can tell by identity that
    nothing changed (and reuse the received file as it is).
    """
    if not actions:
        return dataset
    result = copy_dataset(dataset)
    for action in actions:
        _apply(result, action)
    return result
