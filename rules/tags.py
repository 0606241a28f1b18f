"""DICOM tags and values as the rule engine sees them: tag names from config text, values as text.

Messages raised here name tags and VRs only, never values, since values may be PHI.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pydicom import Dataset, config
from pydicom.datadict import dictionary_VR, keyword_dict, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag, Tag

_PAREN_TAG = re.compile(r"^\(\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)$")
_HEX_TAG = re.compile(r"^[0-9A-Fa-f]{8}$")

# VRs whose values are bytes or nested datasets: they have no text form to compare or to set.
NON_TEXT_VRS = frozenset({"SQ", "OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV"})
_FLOAT_VRS = frozenset({"FL", "FD"})
_KNOWN_VRS = frozenset(
    {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV"}
    | {"OW", "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"}
)


@lru_cache(maxsize=4096)
def parse_tag(text: str) -> BaseTag:
    """Resolve ``Modality``, ``(0008,0060)`` or ``00080060`` to a tag.

    Raises ValueError naming the text and, for a misspelt keyword, the closest known keywords.
    """
    stripped = text.strip()
    if not stripped:
        raise ValueError("empty tag")
    paren = _PAREN_TAG.match(stripped)
    if paren:
        return Tag(int(paren.group(1), 16), int(paren.group(2), 16))
    if _HEX_TAG.match(stripped):
        return Tag(int(stripped, 16))
    tag = keyword_dict.get(stripped)
    if tag is not None:
        return Tag(tag)
    close = difflib.get_close_matches(stripped, keyword_dict.keys(), n=3)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(f"unknown DICOM keyword {stripped!r} (use a keyword, (gggg,eeee) or ggggeeee){hint}")


def tag_label(tag: BaseTag) -> str:
    """``(0008,0060) Modality``: how tags appear in messages and logs."""
    keyword = keyword_for_tag(tag)
    return f"{tag} {keyword}" if keyword else str(tag)


def dictionary_vr(tag: BaseTag) -> str | None:
    """The VR the DICOM dictionary gives ``tag``; None for private and unknown tags.

    Ambiguous entries such as ``US or SS`` are returned as they are; callers decide.
    """
    try:
        return str(dictionary_VR(tag))
    except KeyError:
        return None


def is_known_vr(vr: str) -> bool:
    return vr in _KNOWN_VRS


def _item_text(item: Any) -> str:
    # PersonName, DSfloat, IS, DA... all keep the original text in str(); bytes never reach here.
    return "" if item is None else str(item)


def element_text(elem: DataElement) -> str | None:
    """The element's value as text: multi-valued joined with backslash, empty as ``""``.

    None when the value has no text form (sequences and binary VRs).
    """
    if elem.VR in NON_TEXT_VRS:
        return None
    value = elem.value
    if isinstance(value, bytes | bytearray):
        return None
    if isinstance(value, MultiValue | list | tuple):
        return "\\".join(_item_text(item) for item in value)
    return _item_text(value)


def dataset_text(dataset: Dataset, tag: BaseTag) -> str | None:
    """The text of ``tag`` in ``dataset``; None when missing or not representable as text."""
    elem = dataset.get(tag)
    if elem is None:
        return None
    return element_text(elem)


def _split(text: str) -> list[str]:
    return text.split("\\")


def _numbers(text: str, convert: type[int] | type[float]) -> Iterable[int | float]:
    return [convert(part.strip()) for part in _split(text)]


def make_element(tag: BaseTag, vr: str, text: str) -> DataElement:
    """Build an element for ``tag`` with VR ``vr`` from config text, validated against the VR.

    Multiple values are separated by backslash. Raises ValueError naming the tag and VR, never the text.
    """
    label = tag_label(tag)
    if vr not in _KNOWN_VRS:
        raise ValueError(f"unknown VR {vr!r} for {label}")
    if vr in NON_TEXT_VRS:
        raise ValueError(f"{label} has VR {vr}, which cannot be set from text")
    value: Any
    try:
        if text == "":
            value = None
        elif vr in _INT_VRS:
            value = _numbers(text, int)
        elif vr in _FLOAT_VRS:
            value = _numbers(text, float)
        elif vr == "AT":
            value = [parse_tag(part) for part in _split(text)]
        else:
            value = text
        if isinstance(value, list) and len(value) == 1:
            value = value[0]
        return DataElement(tag, vr, value, validation_mode=config.RAISE)
    except (ValueError, TypeError, OverflowError):
        # The pydicom message quotes the value, so it is dropped on purpose.
        raise ValueError(f"value is not valid for {label} (VR {vr})") from None
