"""Values the action codes write: dummies per VR, shifted dates, and the free-text scrubber."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from pydicom.dataelem import DataElement

TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"})
TEXT_VRS |= frozenset({"UC", "UR", "UT"})
FREE_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
DUMMY_TEXT = {"AE": "ANONYMOUS", "AS": "000Y", "DA": "19000101", "DT": "19000101000000"}
DUMMY_TEXT |= {"TM": "000000", "DS": "0", "IS": "0"}
DUMMY_DEFAULT = "ANONYMIZED"
# A dummy binary value whose length suits OB, OW, OF, OL, OD, OV and UN alike.
DUMMY_BYTES = b"\0" * 8
# Strings shorter than this are not scrubbed out of free text: "M", "CT" would mangle every word.
SCRUB_MIN = 3


def text_of(elem: DataElement) -> str:
    if elem.VM > 1:
        return "\\".join(str(v) for v in elem.value)
    return str(elem.value)


def _shift_date(text: str, days: int) -> str:
    """YYYYMMDD moved by ``days``; anything else (partial, malformed) becomes empty."""
    if len(text) != 8 or not text.isdigit():
        return ""
    try:
        moved = date(int(text[:4]), int(text[4:6]), int(text[6:])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    return moved.strftime("%Y%m%d")


def shift_value(vr: str, text: str, days: int) -> str:
    """Shift each value of a DA or DT text (DA ranges ``A-B`` too); DT keeps its time and offset."""
    out = []
    for value in text.split("\\"):
        value = value.strip()
        if vr == "DA":
            parts = [_shift_date(part, days) if part else "" for part in value.split("-")]
            failed = any(part and not moved for part, moved in zip(value.split("-"), parts, strict=True))
            out.append("" if failed else "-".join(parts))
        else:
            moved = _shift_date(value[:8], days)
            out.append(moved + value[8:] if moved else "")
    return "\\".join(out)


def scrubber(strings: set[str]) -> Callable[[str], str]:
    """A function that removes every one of ``strings`` (case-insensitive) from a text."""
    if not strings:
        return lambda text: text
    ordered = sorted(strings, key=lambda s: (-len(s), s))
    pattern = re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)

    def scrub(text: str) -> str:
        cleaned = pattern.sub("", text)
        return re.sub(r"[ \t]{2,}", " ", cleaned).strip() if cleaned != text else text

    return scrub
