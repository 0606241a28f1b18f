"""DICOM dates and times (DA, TM, DT) as sortable text, so ranges compare with plain ``<``.

Each value becomes fixed-width digits (``YYYYMMDD``, ``HHMMSS.ffffff``, ``YYYYMMDDHHMMSS.ffffff``),
padding what a partial value leaves out with its start (``1230`` is 12:30:00.000000). DT offsets
(``+0100``) are ignored: a range compares the wall-clock time written in the file.
"""

from __future__ import annotations

import re
from datetime import date

DATE_TIME_VRS = frozenset({"DA", "TM", "DT"})

# Operands may be written the ISO way for readability; these separators are dropped.
_SEPARATORS = re.compile(r"[-:T ]")
_TIME = re.compile(r"^(\d{2}(?:\d{2}(?:\d{2})?)?)(?:\.(\d{1,6}))?$")
_DT = re.compile(r"^(\d{4}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2}(?:\d{2})?)?)?)?)?)(?:\.(\d{1,6}))?(?:[+-]\d{4})?$")


def _date(digits: str) -> str | None:
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
    return digits


def _time(text: str) -> str | None:
    match = _TIME.match(text)
    if match is None:
        return None
    whole = match.group(1).ljust(6, "0")
    if int(whole[:2]) > 23 or int(whole[2:4]) > 59 or int(whole[4:]) > 60:
        return None
    return f"{whole}.{(match.group(2) or '').ljust(6, '0')}"


def _datetime(text: str) -> str | None:
    match = _DT.match(text)
    if match is None:
        return None
    digits = match.group(1)
    # A partial DT names the start of its period: 2024 is 2024-01-01 00:00.
    padded = digits + "0101000000"[len(digits) - 4 :]
    if _date(padded[:8]) is None or _time(padded[8:]) is None:
        return None
    return f"{padded}.{(match.group(2) or '').ljust(6, '0')}"


def sortable(vr: str, text: str) -> str | None:
    """``text`` of VR DA, TM or DT as sortable text; None when it is not a valid value of that VR."""
    text = text.strip()
    if vr == "DA":
        return _date(text.replace(".", ""))  # "2024.01.31" is the old ACR-NEMA form
    if vr == "TM":
        return _time(text.replace(":", ""))
    return _datetime(text)


def sortable_operand(vr: str, text: str) -> str:
    """A rule's bound for a range on a ``vr`` tag; ValueError (without the text) when invalid."""
    cleaned = _SEPARATORS.sub("", text.strip()) if vr != "TM" else text.strip().replace(":", "")
    if vr == "DT" and len(cleaned.split(".")[0]) < 8:
        raise ValueError("a DT bound needs at least a full date (YYYYMMDD)")
    value = sortable(vr, cleaned)
    if value is None:
        examples = {"DA": "20240131 or 2024-01-31", "TM": "0730, 07:30 or 073000", "DT": "20240131073000"}
        raise ValueError(f"a bound is not a valid {vr} value (write e.g. {examples[vr]})")
    return value
