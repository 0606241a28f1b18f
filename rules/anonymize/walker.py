"""Apply a resolved profile to a dataset, in place, at every depth of every sequence.

Each Table E.1-1 action code has one implementation here (``_ACTIONS``); the combined codes are
narrowed to one of them by ``single_code``, the one place that choice is made. Attributes the table
does not list are kept, and sequences among them are walked, so a listed attribute is handled
wherever it sits. Private attributes are removed unless the profile keeps safe ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from rules.anonymize.plan import AnonymizeStep
from rules.anonymize.profiles import ResolvedProfile

TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM"})
TEXT_VRS |= frozenset({"UC", "UR", "UT"})
_FREE_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN"})
_NUMBER_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "FL", "FD", "AT"})
_DUMMY_TEXT = {"AE": "ANONYMOUS", "AS": "000Y", "DA": "19000101", "DT": "19000101000000"}
_DUMMY_TEXT |= {"TM": "000000", "DS": "0", "IS": "0"}
_DUMMY_DEFAULT = "ANONYMIZED"
# A dummy binary value whose length suits OB, OW, OF, OL, OD, OV and UN alike.
_DUMMY_BYTES = b"\0" * 8
# Strings shorter than this are not scrubbed out of free text: "M", "CT" would mangle every word.
_SCRUB_MIN = 3
_REMOVING_CODES = frozenset({"X", "Z", "D", "Z/D", "X/Z", "X/D", "X/Z/D"})
_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_META_AE_TITLES = (0x00020016, 0x00020017, 0x00020018)


def single_code(code: str, elem: DataElement) -> str:
    """Narrow a combined code to one action, keeping the attribute present where the table allows.

    The standard lets the choice depend on the IOD (Z when the attribute is Type 2, D when Type 1).
    Without the IOD at hand: Z/D keeps a non-empty value non-empty (D), else Z; X/Z empties (Z); X/D
    dummies a non-empty value (D), else removes; X/Z/D empties (Z); X/Z/U* remaps UIDs and walks
    sequences (U), else empties. A Type 1 or 2 attribute thus stays present, with no information.
    """
    if code == "Z/D":
        return "Z" if elem.is_empty else "D"
    if code in ("X/Z", "X/Z/D"):
        return "Z"
    if code == "X/D":
        return "X" if elem.is_empty else "D"
    if code == "X/Z/U*":
        return "U" if elem.VR in ("UI", "SQ") else "Z"
    return code


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


def _empty(tag: BaseTag, elem: DataElement) -> DataElement:
    return DataElement(tag, elem.VR, Sequence() if elem.VR == "SQ" else None)


class _Walk:
    def __init__(self, step: AnonymizeStep, root: Dataset) -> None:
        self.profile: ResolvedProfile = step.profile
        self.keys = step.keys
        self.shift = step.pseudonym.date_shift_days
        # Found before the walk changes anything: the values free text must lose.
        strings = identifying_strings(root, self.profile) if self.profile.cleans else set()
        self.scrub = _scrubber(strings)

    # -- the walk ------------------------------------------------------------------------------
    def dataset(self, ds: Dataset) -> None:
        private: list[BaseTag] = []
        for tag in list(ds.keys()):
            if tag.is_private:
                private.append(tag)
                continue
            if tag.element == 0x0000:  # group length: retired, and wrong once values change
                del ds[tag]
                continue
            code = self.profile.code(int(tag))
            if code is None:
                # Not listed: kept. Only a sequence (or an element of unknown VR) needs decoding.
                if ds._dict[tag].VR in (None, "SQ", "UN"):
                    elem = ds[tag]
                    if elem.VR == "SQ":
                        self.items(elem)
                continue
            elem = ds[tag]
            _ACTIONS[single_code(code, elem)](self, ds, tag, elem)
        if private:
            self.private(ds, private)

    def items(self, elem: DataElement) -> None:
        for item in elem.value or ():
            self.dataset(item)

    def private(self, ds: Dataset, tags: list[BaseTag]) -> None:
        keep_safe = self.profile.private_code in ("C", "K")
        creators: dict[tuple[int, int], str] = {}
        for tag in tags:
            if tag.is_private_creator:
                creators[(tag.group, tag.element)] = str(ds[tag].value).strip()
        kept: set[tuple[int, int]] = set()
        for tag in tags:
            if tag.is_private_creator:
                continue
            block = tag.element >> 8
            creator = creators.get((tag.group, block))
            if keep_safe and (tag.group, creator, tag.element & 0xFF) in self.profile.safe_private:
                kept.add((tag.group, block))
                if ds[tag].VR == "SQ":
                    self.items(ds[tag])
                continue
            del ds[tag]
        for tag in tags:
            if tag.is_private_creator and (tag.group, tag.element) not in kept:
                del ds[tag]

    # -- the action codes ----------------------------------------------------------------------
    def remove(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        del ds[tag]

    def empty(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        ds[tag] = _empty(tag, elem)

    def dummy(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        vr = elem.VR
        if vr == "SQ":
            self.items(elem)  # a dummy sequence: the same items, each walked
        elif vr == "UI":
            self.uid(ds, tag, elem)
        elif vr in TEXT_VRS:
            ds[tag] = DataElement(tag, vr, _DUMMY_TEXT.get(vr, _DUMMY_DEFAULT))
        elif vr in _NUMBER_VRS:
            ds[tag] = DataElement(tag, vr, 0)
        else:
            ds[tag] = DataElement(tag, vr, _DUMMY_BYTES)

    def keep(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        if elem.VR == "SQ":
            self.items(elem)

    def clean(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        """Keep the meaning, lose the identity: shift dates, scrub free text, walk sequences.

        Free text loses every identifying value found elsewhere in the instance (names, IDs...);
        dates move by the patient's shift (Modified Dates) and stay otherwise; binary values (overlay
        bitmaps, curves) cannot be cleaned, so they are removed.
        """
        vr = elem.VR
        if vr == "SQ":
            self.items(elem)
        elif vr in ("DA", "DT"):
            if self.shift is not None and not elem.is_empty:
                ds[tag] = DataElement(tag, vr, shift_value(vr, _text(elem), self.shift))
        elif vr in _FREE_TEXT_VRS:
            if not elem.is_empty:
                ds[tag] = DataElement(tag, vr, self.scrub(_text(elem)))
        elif vr not in TEXT_VRS and vr not in _NUMBER_VRS:
            del ds[tag]

    def uid(self, ds: Dataset, tag: BaseTag, elem: DataElement) -> None:
        if elem.VR == "SQ":
            self.items(elem)
        elif elem.VR != "UI":
            self.empty(ds, tag, elem)
        elif not elem.is_empty:
            values = [str(v) for v in elem.value] if elem.VM > 1 else [str(elem.value)]
            mapped = [self.keys.uid(v) if v.strip() else "" for v in values]
            ds[tag] = DataElement(tag, "UI", mapped if len(mapped) > 1 else mapped[0])


def _text(elem: DataElement) -> str:
    if elem.VM > 1:
        return "\\".join(str(v) for v in elem.value)
    return str(elem.value)


def identifying_strings(ds: Dataset, profile: ResolvedProfile) -> set[str]:
    """Text values the profile removes or replaces, anywhere in ``ds`` (names also by component)."""
    found: set[str] = set()
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or ():
                found |= identifying_strings(item, profile)
            continue
        if elem.VR not in _FREE_TEXT_VRS | {"DA", "AE"} or elem.is_empty:
            continue
        code = None if elem.tag.is_private else profile.code(int(elem.tag))
        if not elem.tag.is_private and code not in _REMOVING_CODES:
            continue
        for value in _text(elem).split("\\"):
            found.add(value.strip())
            if elem.VR == "PN":
                found.update(part.strip() for part in re.split(r"[\^=]", value))
    return {value for value in found if len(value) >= _SCRUB_MIN}


def _scrubber(strings: set[str]) -> Callable[[str], str]:
    if not strings:
        return lambda text: text
    ordered = sorted(strings, key=lambda s: (-len(s), s))
    pattern = re.compile("|".join(re.escape(s) for s in ordered), re.IGNORECASE)

    def scrub(text: str) -> str:
        cleaned = pattern.sub("", text)
        return re.sub(r"[ \t]{2,}", " ", cleaned).strip() if cleaned != text else text

    return scrub


_ACTIONS: dict[str, Callable[[_Walk, Dataset, BaseTag, DataElement], None]] = {
    "X": _Walk.remove,
    "Z": _Walk.empty,
    "D": _Walk.dummy,
    "K": _Walk.keep,
    "C": _Walk.clean,
    "U": _Walk.uid,
}


def _finish(ds: Dataset, step: AnonymizeStep) -> None:
    """What PS3.15 E.1.1 asks of the de-identified instance, and the pseudonyms at the top level."""
    profile, pseudonym = step.profile, step.pseudonym
    if profile.code(_PATIENT_ID) != "K":
        ds.PatientID = pseudonym.patient_id
    if profile.code(_PATIENT_NAME) != "K":
        ds.PatientName = pseudonym.patient_name
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = [f"Axiom anonymize {profile.name}"[:64], profile.edition[:64]]
    items = []
    for value, meaning in profile.method_codes:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    if "retain-longitudinal-full-dates" in profile.options:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    elif "retain-longitudinal-modified-dates" in profile.options:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        for tag in _META_AE_TITLES:
            if tag in meta:
                del meta[tag]


def anonymize_in_place(ds: Dataset, step: AnonymizeStep) -> None:
    """De-identify ``ds`` (an outgoing copy) by ``step``'s profile, keys and pseudonym."""
    _Walk(step, ds).dataset(ds)
    _finish(ds, step)
