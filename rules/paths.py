"""Where a condition looks in a dataset: a tag, a private tag by creator, or a path through sequences.

Path text, parsed once when a rule is loaded::

    Modality                                   a keyword
    (0008,0060) / 00080060                     a tag number
    (0009,"ACME 1.0",10)                       private: group, creator (quoted), element offset
    ReferencedSeriesSequence[*].SeriesInstanceUID   any item of a sequence
    ReferencedSeriesSequence[0].SeriesInstanceUID   the first item
    ReferencedSeriesSequence.SeriesInstanceUID      no index: any item

Resolving a path yields every element it reaches (several when it passes ``[*]``), so a condition
holds when it holds for any of them. Messages name the path text the admin wrote, never values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.tag import BaseTag

from rules.tags import dictionary_vr, parse_tag, tag_label

ANY_ITEM = -1

# One step: a quoted private reference, a parenthesised tag, or a bare keyword / hex number, then an
# optional [n] or [*]. Creators are quoted because they may hold dots and spaces ("ACME 1.0").
_STEP = re.compile(
    r"""\s*(?:
        \(\s*(?P<pgroup>[0-9A-Fa-f]{4})\s*,\s*"(?P<creator>[^"]+)"\s*,\s*(?P<pelem>[0-9A-Fa-f]{2,4})\s*\)
      | (?P<paren>\([^)]*\))
      | (?P<word>[A-Za-z0-9_]+)
    )\s*(?:\[\s*(?P<index>\*|\d+)\s*\])?\s*""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class PrivateRef:
    """A private tag named by its block's creator: ``group`` odd, ``offset`` 0x00-0xFF in the block."""

    group: int
    creator: str
    offset: int

    def label(self) -> str:
        return f'({self.group:04X},"{self.creator}",{self.offset:02X})'


def private_ref(group: int, creator: str, element: int) -> PrivateRef:
    """Validate a private reference; ``element`` may be the offset (0x10) or a full element (0x1010)."""
    if not 0 <= group <= 0xFFFF or group % 2 == 0 or group <= 0x0008:
        raise ValueError(f"private group {group:#06x} must be odd and above 0008")
    if not creator.strip():
        raise ValueError("private creator must not be empty")
    if not 0 <= element <= 0xFFFF or (0xFF < element < 0x1000):
        raise ValueError(f"private element {element:#x} must be an offset 00-FF or an element 1000-FFFF")
    # The block number comes from where the creator sits in this dataset, so only the low byte counts.
    return PrivateRef(group, creator, element & 0xFF)


@dataclass(frozen=True)
class Step:
    key: BaseTag | PrivateRef
    index: int | None  # None: not indexed (the last step, or any item); ANY_ITEM: [*]; else the item

    def label(self) -> str:
        base = self.key.label() if isinstance(self.key, PrivateRef) else tag_label(self.key)
        if self.index is None:
            return base
        return f"{base}[{'*' if self.index == ANY_ITEM else self.index}]"


@dataclass(frozen=True)
class TagPath:
    steps: tuple[Step, ...]
    text: str

    @property
    def leaf(self) -> BaseTag | PrivateRef:
        return self.steps[-1].key

    def leaf_vr(self) -> str | None:
        """The dictionary VR of the final element (None for private tags)."""
        leaf = self.leaf
        return None if isinstance(leaf, PrivateRef) else dictionary_vr(leaf)

    def label(self) -> str:
        return ".".join(step.label() for step in self.steps)

    def resolve(self, dataset: Dataset) -> list[DataElement]:
        """Every element the path reaches in ``dataset``; empty when any step is missing."""
        current = [dataset]
        last = len(self.steps) - 1
        for position, step in enumerate(self.steps):
            found: list[DataElement] = []
            for ds in current:
                elem = _element(ds, step.key)
                if elem is not None:
                    found.append(elem)
            if position == last:
                return found
            current = []
            for elem in found:
                if elem.VR != "SQ" or not elem.value:
                    continue
                items = elem.value
                if step.index is None or step.index == ANY_ITEM:
                    current.extend(items)
                elif step.index < len(items):
                    current.append(items[step.index])
        return []


def _block_start(ds: Dataset, group: int, creator: str) -> int | None:
    """The first element of ``creator``'s block in ``group`` (e.g. 0x1100), or None.

    pydicom's ``Dataset.private_block`` finds creators through a dataset slice, which costs tens of
    microseconds per call; this scans the keys once, which matters at hundreds of rules an instance.
    """
    # Shifts and masks stay in C: BaseTag's own comparison operators are Python functions.
    prefix = group << 8
    for tag in sorted(t for t in ds._dict if t >> 8 == prefix and t & 0xFF >= 0x10):
        if ds[tag].value == creator:
            return (tag & 0xFF) << 8
    return None


def _element(ds: Dataset, key: BaseTag | PrivateRef) -> DataElement | None:
    if isinstance(key, PrivateRef):
        start = _block_start(ds, key.group, key.creator)
        if start is None:
            return None
        tag = BaseTag((key.group << 16) | start | key.offset)
    else:
        tag = key
    elem = ds.get(tag)
    return elem if isinstance(elem, DataElement) else None


def _step_key(match: re.Match[str]) -> BaseTag | PrivateRef:
    if match.group("pgroup"):
        return private_ref(
            int(match.group("pgroup"), 16), match.group("creator"), int(match.group("pelem"), 16)
        )
    return parse_tag(match.group("paren") or match.group("word"))


@lru_cache(maxsize=4096)
def parse_path(text: str) -> TagPath:
    """Parse path text; ValueError names the part that is wrong (keywords get "did you mean")."""
    steps: list[Step] = []
    position = 0
    while True:
        match = _STEP.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read the tag path {text!r} at character {position + 1}")
        index_text = match.group("index")
        index = None if index_text is None else ANY_ITEM if index_text == "*" else int(index_text)
        steps.append(Step(_step_key(match), index))
        position = match.end()
        if position == len(text):
            break
        if text[position] != ".":
            raise ValueError(f"cannot read the tag path {text!r} at character {position + 1}")
        position += 1
    for step in steps[:-1]:
        if isinstance(step.key, BaseTag) and dictionary_vr(step.key) not in (None, "SQ"):
            raise ValueError(f"{tag_label(step.key)} is not a sequence, so the path cannot go into it")
    if steps[-1].index is not None:
        raise ValueError("an item index belongs after a sequence inside the path, not at its end")
    return TagPath(tuple(steps), text)


@lru_cache(maxsize=1024)
def path_for(group: int, creator: str, element: int) -> TagPath:
    """The one-step path of a private reference given as a mapping."""
    ref = private_ref(group, creator, element)
    return TagPath((Step(ref, None),), ref.label())


__all__ = ["ANY_ITEM", "PrivateRef", "Step", "TagPath", "parse_path", "path_for", "private_ref"]
