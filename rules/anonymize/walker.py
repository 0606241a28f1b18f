"""Apply a resolved profile to a dataset, in place, at every depth of every sequence.

Each Table E.1-1 action code has one implementation here (``_ACTIONS``); the combined codes are
narrowed to one of them by ``narrow.single_code`` with the attribute's type in the instance's IOD.
Attributes the table does not list are kept (in allow-list mode: only when allow-listed), and
sequences among them are walked, so a listed attribute is handled wherever it sits. Content-item
sequences (SR trees, acquisition context) go through ``content``; overlay (60xx) and curve (50xx)
groups are handled as whole groups; private attributes are removed unless the profile keeps safe ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydicom import Dataset
from pydicom.dataelem import DataElement
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from rules.anonymize.allow_list import ALLOWED
from rules.anonymize.content import (
    CONTENT_ITEM_SEQUENCES,
    CONTENT_SEQUENCE,
    clean_item,
    dummy_tree,
    is_document_root,
)
from rules.anonymize.narrow import ANIMAL_2C, Types, iod_types, is_animal, single_code
from rules.anonymize.plan import AnonymizeStep
from rules.anonymize.profiles import ResolvedProfile
from rules.anonymize.values import (
    DUMMY_BYTES,
    DUMMY_DEFAULT,
    DUMMY_TEXT,
    FREE_TEXT_VRS,
    NUMBER_VRS,
    TEXT_VRS,
    scrubber,
    shift_value,
    text_of,
)

_REMOVING_CODES = frozenset({"X", "Z", "D", "Z/D", "X/Z", "X/D", "X/Z/D"})
_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_META_AE_TITLES = (0x00020016, 0x00020017, 0x00020018)
# Issuer and namespace sequences: in allow-list mode they go as X/Z (removed, or emptied if Type 2).
_ISSUER_SEQUENCES = frozenset(
    {0x00080051, 0x00100024, 0x00380014, 0x00380064, 0x00400026, 0x00400027, 0x00400513, 0x00400562}
)


def repeating_group(tag: BaseTag) -> bool:
    """Curves (50xx) and overlays (60xx): the even groups of the two repeating ranges."""
    group = tag.group
    return group % 2 == 0 and (0x5000 <= group <= 0x50FF or 0x6000 <= group <= 0x60FF)


def _empty(tag: BaseTag, elem: DataElement) -> DataElement:
    return DataElement(tag, elem.VR, Sequence() if elem.VR == "SQ" else None)


class _Walk:
    def __init__(self, step: AnonymizeStep, root: Dataset) -> None:
        self.profile: ResolvedProfile = step.profile
        self.keys = step.keys
        self.shift = step.pseudonym.date_shift_days
        self.types: Types | None = iod_types(str(root.get("SOPClassUID", "")))
        self.animal = is_animal(root)
        self.sr_root = is_document_root(root)
        # Found before the walk changes anything: the values free text must lose.
        strings = identifying_strings(root, self.profile) if self.profile.cleans else set()
        self.scrub = scrubber(strings)

    # -- the walk ------------------------------------------------------------------------------
    def dataset(self, ds: Dataset, parent: int = 0) -> None:
        private: list[BaseTag] = []
        groups: set[int] = set()
        for tag in list(ds.keys()):
            if tag.is_private:
                private.append(tag)
            elif tag.element == 0x0000:  # group length: retired, and wrong once values change
                del ds[tag]
            elif repeating_group(tag):
                groups.add(tag.group)
            elif int(tag) in CONTENT_ITEM_SEQUENCES:
                self.content(ds, tag, parent)
            else:
                self.element(ds, tag, parent)
        for group in sorted(groups):
            self.group(ds, group)
        if private:
            self.private(ds, private)

    def element(self, ds: Dataset, tag: BaseTag, parent: int) -> None:
        code = self.profile.code(int(tag))
        if code is None and self.profile.allow_list:
            if int(tag) in _ISSUER_SEQUENCES:
                code = "X/Z"
            elif int(tag) not in ALLOWED:
                del ds[tag]
                return
        if code is None:
            # Not listed: kept. Only a sequence (or an element of unknown VR) needs decoding.
            if ds._dict[tag].VR in (None, "SQ", "UN") or self.profile.allow_list:
                self.keep(ds, tag, ds[tag], parent)
            return
        elem = ds[tag]
        if code == "X" and self.animal and int(tag) in ANIMAL_2C:
            code = "Z"  # Type 2C for an animal patient: emptied, not removed
        action = single_code(code, elem, self.type_of(parent, int(tag)))
        _ACTIONS[action](self, ds, tag, elem, parent)

    def type_of(self, parent: int, tag: int) -> str | None:
        if self.types is None:
            return None
        return self.types.get((parent, tag), "3")

    def items(self, elem: DataElement) -> None:
        for item in elem.value or ():
            self.dataset(item, int(elem.tag))

    def content(self, ds: Dataset, tag: BaseTag, parent: int) -> None:
        """A content-item sequence: cleaned item by item (option), else the tree replaced or removed."""
        code = self.profile.code(int(tag))
        elem = ds[tag]
        if code in ("C", "K"):
            for item in elem.value or ():
                if code == "C":
                    clean_item(item, self.scrub)
                self.dataset(item, int(tag))
        elif int(tag) == CONTENT_SEQUENCE and parent == 0 and self.sr_root:
            dummy_tree(ds)
            if CONTENT_SEQUENCE in ds:
                self.items(ds[tag])
        else:
            # Nothing the author wrote survives: removed, or emptied where the IOD requires it.
            kind = self.type_of(parent, int(tag))
            action = "X" if kind is not None and kind.startswith("3") else "Z"
            _ACTIONS[action](self, ds, tag, elem, parent)

    def group(self, ds: Dataset, group: int) -> None:
        """An overlay or curve group as a whole: removed, kept, or cleaned without its bitmap.

        Without Clean Graphics the whole group goes. With it, a group that carries its data
        (60xx,3000 / 50xx,3000) still goes entirely (a bitmap cannot be cleaned, and a plane
        without its data is invalid); a group without data keeps its attributes, text cleaned.
        """
        tags = [tag for tag in list(ds.keys()) if tag.group == group]
        code = self.profile.code((group << 16) | 0x3000)
        if code == "K":
            return
        has_data = BaseTag((group << 16) | 0x3000) in ds
        for tag in tags:
            if code != "C" or has_data:
                del ds[tag]
            else:
                self.clean(ds, tag, ds[tag], 0)

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
    def remove(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
        del ds[tag]

    def empty(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
        ds[tag] = _empty(tag, elem)

    def dummy(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
        vr = elem.VR
        if vr == "SQ":
            self.items(elem)  # a dummy sequence: the same items, each walked
        elif vr == "UI":
            self.uid(ds, tag, elem, parent)
        elif vr in TEXT_VRS:
            ds[tag] = DataElement(tag, vr, DUMMY_TEXT.get(vr, DUMMY_DEFAULT))
        elif vr in NUMBER_VRS:
            ds[tag] = DataElement(tag, vr, 0)
        else:
            ds[tag] = DataElement(tag, vr, DUMMY_BYTES)

    def keep(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
        if elem.VR == "SQ":
            self.items(elem)
        elif self.profile.allow_list and elem.VR in FREE_TEXT_VRS and not elem.is_empty:
            # Allow-list mode: every text value left is checked against the identifying values.
            ds[tag] = DataElement(tag, elem.VR, self.scrub(text_of(elem)))

    def clean(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
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
                ds[tag] = DataElement(tag, vr, shift_value(vr, text_of(elem), self.shift))
        elif vr in FREE_TEXT_VRS:
            if not elem.is_empty:
                ds[tag] = DataElement(tag, vr, self.scrub(text_of(elem)))
        elif vr not in TEXT_VRS and vr not in NUMBER_VRS:
            del ds[tag]

    def uid(self, ds: Dataset, tag: BaseTag, elem: DataElement, parent: int) -> None:
        if elem.VR == "SQ":
            self.items(elem)
        elif elem.VR != "UI":
            self.empty(ds, tag, elem, parent)
        elif not elem.is_empty:
            values = [str(v) for v in elem.value] if elem.VM > 1 else [str(elem.value)]
            mapped = [self.keys.uid(v) if v.strip() else "" for v in values]
            ds[tag] = DataElement(tag, "UI", mapped if len(mapped) > 1 else mapped[0])


def identifying_strings(ds: Dataset, profile: ResolvedProfile) -> set[str]:
    """Text values the profile removes or replaces, anywhere in ``ds`` (names also by component)."""
    found: set[str] = set()
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or ():
                found |= identifying_strings(item, profile)
            continue
        if elem.VR not in FREE_TEXT_VRS | {"DA", "AE"} or elem.is_empty:
            continue
        code = None if elem.tag.is_private else profile.code(int(elem.tag))
        if not elem.tag.is_private and code not in _REMOVING_CODES:
            continue
        for value in text_of(elem).split("\\"):
            found.add(value.strip())
            if elem.VR == "PN":
                found.update(part.strip() for part in re.split(r"[\^=]", value))
    return {value for value in found if len(value) >= 3}


_ACTIONS: dict[str, Callable[[_Walk, Dataset, BaseTag, DataElement, int], None]] = {
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
