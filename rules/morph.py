"""Apply a plan's tag edits to a copy of the dataset, leaving the received one as it was."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import TypeVar

from pydicom import Dataset
from pydicom.dataelem import DataElement, RawDataElement

from rules.model import Action, DeleteAction, DeleteSpec, SetAction, SetSpec
from rules.tags import make_element, tag_label

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


def _apply_set(dataset: Dataset, spec: SetSpec) -> None:
    tag, vr = spec.resolved_tag, spec.resolved_vr
    try:
        dataset[tag] = make_element(tag, vr, spec.value)
    except ValueError:
        raise MorphError(f"cannot set {tag_label(tag)}: value is not valid for VR {vr}") from None


def _apply_delete(dataset: Dataset, spec: DeleteSpec) -> None:
    tag = spec.resolved_tag
    if tag in dataset:
        del dataset[tag]


def apply_actions(dataset: DatasetT, actions: Sequence[Action]) -> DatasetT:
    """Return a new dataset with ``actions`` applied in order; ``dataset`` itself is not changed.

    With no actions the input object itself is returned, so callers can tell by identity that
    nothing changed (and reuse the received file as it is).
    """
    if not actions:
        return dataset
    result = copy_dataset(dataset)
    for action in actions:
        if isinstance(action, SetAction):
            _apply_set(result, action.set)
        elif isinstance(action, DeleteAction):
            _apply_delete(result, action.delete)
        else:
            raise TypeError(f"unsupported action type {type(action).__name__}")
    return result
