"""Remove from a free-text description every identifying value found elsewhere in the instance.

Descriptions carry names in real life ("CT CHEST for Smith^John", "MRN 12345 follow-up"); before one
leaves for a language model, every value of the instance that identifies someone or something is
cut out of it: person names (whole and each part), IDs and numbers, dates (as written in DICOM and
in the usual human forms), UIDs, addresses and phone numbers, from the top level and from every
sequence. Which attributes count is the PS3.15 Annex E table (what the Basic Profile does not keep)
plus every PN, DA, DT and UI element; the descriptions being standardized are not sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import cache

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.tag import BaseTag

from rules.anonymize.table_e1_1 import ROWS

REMOVED = "[removed]"
# Shorter name parts and IDs are left: a two-letter word is too often a description's own word.
MIN_LENGTH = 3
_ALWAYS = frozenset({"PN", "DA", "DT", "UI"})
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DT", "LO", "LT", "PN", "SH", "ST", "TM", "UC", "UI", "UT"})
# Annex E rows that describe the procedure, not who or where: the text being standardized often
# repeats them (RequestedProcedureDescription "CT CHEST" in StudyDescription).
_DESCRIPTIVE = re.compile(r"(Description|Comments?|Label|Sequence)$")


@cache
def _annex_e_tags() -> frozenset[int]:
    """Tags of the Annex E rows that identify (not the descriptive ones and not the kept ones)."""
    tags = set()
    for tag, keyword, code, _options in ROWS:
        if "x" in tag or tag == "private" or code == "K":
            continue
        if _DESCRIPTIVE.search(keyword):
            continue
        tags.add(int(tag, 16))
    return frozenset(tags)


def _walk(ds: Dataset) -> Iterator[DataElement]:
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _walk(item)
        else:
            yield elem


def _date_forms(date: str) -> Iterator[str]:
    """A DICOM date (YYYYMMDD) as it is written by people too."""
    if not re.fullmatch(r"\d{8}", date):
        return
    y, m, d = date[:4], date[4:6], date[6:8]
    for day, month in ((d, m), (d.lstrip("0"), m.lstrip("0"))):
        yield from (
            f"{y}-{month}-{day}",
            f"{y}/{month}/{day}",
            f"{day}.{month}.{y}",
            f"{day}/{month}/{y}",
            f"{month}/{day}/{y}",
            f"{day}-{month}-{y}",
            f"{month}-{day}-{y}",
        )


def _forms(elem: DataElement) -> Iterator[str]:
    values = elem.value if elem.VM > 1 else [elem.value]
    for value in values:
        text = str(value or "").strip()
        if not text:
            continue
        yield text
        if elem.VR == "PN":
            parts = [p for p in re.split(r"[\^=\s,]+", text) if p]
            yield from parts
            yield " ".join(parts)
            yield " ".join(reversed(parts[:2]))
        elif elem.VR in {"DA", "DT"}:
            yield from _date_forms(text[:8])
        elif elem.VR in {"LO", "SH", "LT", "ST", "UC", "UT"}:
            yield from (p for p in re.split(r"[\s,;]+", text) if any(c.isdigit() for c in p))


def identifying_values(ds: Dataset, exclude: Iterable[str] = ()) -> set[str]:
    """Every identifying value of ``ds`` and its sequences (in the forms people write them),
    except the attributes named in ``exclude`` (keywords)."""
    skipped = {int(BaseTag(_tag)) for _tag in _keyword_tags(exclude)}
    annex_e = _annex_e_tags()
    found: set[str] = set()
    for elem in _walk(ds):
        if elem.tag in skipped or elem.tag.is_private or elem.VR not in _TEXT_VRS:
            continue
        if elem.VR in _ALWAYS or int(elem.tag) in annex_e:
            found.update(form for form in _forms(elem) if len(form) >= MIN_LENGTH)
    return found


def _keyword_tags(keywords: Iterable[str]) -> Iterator[int]:
    from pydicom.datadict import tag_for_keyword

    for keyword in keywords:
        tag = tag_for_keyword(keyword)
        if tag is not None:
            yield tag


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with each of ``values`` (whole words, any case; longest first) replaced by [removed]."""
    ordered = sorted({v for v in values if v}, key=len, reverse=True)
    if not ordered:
        return text
    pattern = re.compile(
        r"(?<![0-9A-Za-z])(?:" + "|".join(re.escape(v) for v in ordered) + r")(?![0-9A-Za-z])",
        re.IGNORECASE,
    )
    return pattern.sub(REMOVED, text)


__all__ = ["REMOVED", "identifying_values", "scrub"]
