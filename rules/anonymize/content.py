"""Structured content (SR content trees, acquisition context, ...): what the author wrote.

Table E.1-1 codes Content Sequence ``D`` and the other content-item sequences ``X/Z`` or ``Z``; it
does not list the value attributes of content items (Text Value, names and codes used as values),
so walking a content tree with the table alone lets free text through. Without the Clean Structured
Content option, an SR document's tree is replaced by a minimal valid one (``dummy_tree``): the root
CONTAINER with a standard title and only the references to other instances (what a Key Object
Selection is made of), UIDs remapped by the walker. With the option, every item is cleaned
(``clean_item``): Text Value and code meanings lose the identifying values of the instance, and the
table's rows for names (``D``), dates (``D``, or shifted/kept by the date options) and UIDs (``U``)
apply to the rest as everywhere.
"""

from __future__ import annotations

from collections.abc import Callable

from pydicom import Dataset
from pydicom.sequence import Sequence

from rules.anonymize.values import DUMMY_DEFAULT

CONTENT_SEQUENCE = 0x0040A730
# Sequences whose items are content items (PS3.3 C.17.3, C.4.10 Acquisition Context, ...).
CONTENT_ITEM_SEQUENCES = frozenset(
    {
        CONTENT_SEQUENCE,
        0x00400555,  # AcquisitionContextSequence
        0x00400441,  # ContentItemModifierSequence
        0x00400440,  # ProtocolContextSequence
        0x00400612,  # SpecimenPreparationStepContentItemSequence
    }
)
KEY_OBJECT_SELECTION = "1.2.840.10008.5.1.4.1.1.88.59"
_REFERENCE_TYPES = frozenset({"IMAGE", "COMPOSITE", "WAVEFORM"})
_REFERENCE_KEYWORDS = (
    "ReferencedSOPClassUID",
    "ReferencedSOPInstanceUID",
    "ReferencedFrameNumber",
    "ReferencedSegmentNumber",
)
# Coding schemes whose meanings are the standard's or a terminology's, not the author's words.
STANDARD_SCHEMES = frozenset({"DCM", "LN", "SCT", "SRT", "UCUM", "RADLEX", "NCIt", "FMA", "UMLS", "99SDM"})
DUMMY_TITLE = ("18748-4", "LN", "Diagnostic imaging report")


def is_document_root(ds: Dataset) -> bool:
    """The top level of an SR document (or KO): the root content item is a CONTAINER."""
    return str(ds.get("ValueType", "")).strip() == "CONTAINER"


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _standard(item: Dataset) -> bool:
    return str(item.get("CodingSchemeDesignator", "")).strip() in STANDARD_SCHEMES


def _reference(item: Dataset) -> Dataset | None:
    """An IMAGE/COMPOSITE/WAVEFORM item reduced to its reference, or None for any other item."""
    if str(item.get("ValueType", "")).strip() not in _REFERENCE_TYPES:
        return None
    if str(item.get("RelationshipType", "")).strip() != "CONTAINS":
        return None
    refs = []
    for ref in item.get("ReferencedSOPSequence", ()):
        kept = Dataset()
        for keyword in _REFERENCE_KEYWORDS:
            if keyword in ref:
                kept[keyword] = ref[keyword]
        refs.append(kept)
    if not refs:
        return None
    out = Dataset()
    out.RelationshipType = "CONTAINS"
    out.ValueType = item.ValueType
    out.ReferencedSOPSequence = Sequence(refs)
    return out


def dummy_tree(root: Dataset) -> None:
    """Replace the document's content tree, in place, by a minimal valid one.

    Kept: the root CONTAINER, its title when it is a standard code (else a generic title), and the
    first-level references to other instances, reduced to the referenced UIDs (the walker remaps
    them). Gone: every text, name, date, code, measurement and nested item the author wrote, and
    the template identification (the tree no longer follows it), except for a Key Object
    Selection, whose TID 2010 is the references themselves.
    """
    kept = [ref for item in root.get("ContentSequence", ()) if (ref := _reference(item)) is not None]
    if kept:
        root.ContentSequence = Sequence(kept)
    elif "ContentSequence" in root:
        del root.ContentSequence
    titles: list[Dataset] = list(root.get("ConceptNameCodeSequence") or ())
    if not (len(titles) == 1 and _standard(titles[0])):
        root.ConceptNameCodeSequence = Sequence([_code(*DUMMY_TITLE)])
    else:
        title = titles[0]
        root.ConceptNameCodeSequence = Sequence(
            [_code(str(title.CodeValue), str(title.CodingSchemeDesignator), str(title.CodeMeaning))]
        )
    root.ContinuityOfContent = "SEPARATE"
    if str(root.get("SOPClassUID", "")).strip() != KEY_OBJECT_SELECTION and "ContentTemplateSequence" in root:
        del root.ContentTemplateSequence


def clean_item(item: Dataset, scrub: Callable[[str], str]) -> None:
    """Clean one content item's own values in place: Text Value and the meanings of its codes.

    A value scrubbed down to nothing becomes a dummy: Text Value and Code Meaning are Type 1 where
    present. Names, dates and UIDs of the item are the table's rows (PersonName, Date, Time,
    DateTime, UID) and are handled by the walker like any other attribute.
    """
    if "TextValue" in item and not item["TextValue"].is_empty:
        item.TextValue = scrub(str(item.TextValue)) or DUMMY_DEFAULT
    for keyword in ("ConceptNameCodeSequence", "ConceptCodeSequence"):
        for code in item.get(keyword) or ():
            if "CodeMeaning" in code and not _standard(code):
                code.CodeMeaning = scrub(str(code.CodeMeaning)) or DUMMY_DEFAULT
