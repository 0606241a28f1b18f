"""Cheap structural checks of a received dataset before it is acknowledged.

The listener does not decode values (that is the worker's job); it walks element headers so that
garbage or a truncated stream is refused with a DICOM failure status instead of being spooled. The
identifying UIDs are checked against the PS3.5 9.1 grammar here, where they enter: past this point a
UID is a known-good string of digits and dots, never a path component, a column overflow or a log
injection.
"""

from __future__ import annotations

import hashlib
from typing import cast

from pydicom.dataelem import RawDataElement
from pydicom.filereader import data_element_generator
from pydicom.tag import Tag
from pydicom.uid import UID

from axiom.dicom.view_io import reader

UNDEFINED_LENGTH = 0xFFFFFFFF
SOP_CLASS_UID_TAG = Tag(0x0008, 0x0016)
SOP_INSTANCE_UID_TAG = Tag(0x0008, 0x0018)
# Top-level UIDs that name the instance and its groups: checked on arrival.
CHECKED_UIDS = {
    SOP_CLASS_UID_TAG: "SOPClassUID",
    SOP_INSTANCE_UID_TAG: "SOPInstanceUID",
    Tag(0x0020, 0x000D): "StudyInstanceUID",
    Tag(0x0020, 0x000E): "SeriesInstanceUID",
}
OPTIONAL_WHEN_EMPTY = frozenset({"StudyInstanceUID", "SeriesInstanceUID"})
CANNOT_UNDERSTAND = 0xC000
DOES_NOT_MATCH_SOP_CLASS = 0xA900


class InvalidDataset(ValueError):
    """The payload is not a complete dataset; the message names what is wrong, never a value."""

    def __init__(self, reason: str, status: int = CANNOT_UNDERSTAND) -> None:
        super().__init__(reason)
        self.status = status


def is_valid_uid(value: str) -> bool:
    """PS3.5 9.1: digits and dots, no empty component, no leading zero, at most 64 characters."""
    return UID(value).is_valid


def safe_uid(value: str) -> str:
    """A received UID as it may appear in logs, events and rows: itself when valid, else a hash."""
    if is_valid_uid(value):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"invalid-uid-{digest}"


def check_uid(value: str, what: str) -> None:
    if not is_valid_uid(value):
        raise InvalidDataset(f"{what} is not a valid UID (PS3.5 9.1)")


def _uid_text(element: RawDataElement) -> str | None:
    if element.value is None:  # deferred: longer than any UID may be
        return None
    return bytes(element.value).rstrip(b"\x00 ").decode("ascii", "replace")


def check_encoded_dataset(
    data: bytes | memoryview, transfer_syntax: UID, sop_class_uid: str, sop_instance_uid: str = ""
) -> None:
    total = len(data)
    if total < 8:
        raise InvalidDataset(f"dataset of {total} bytes is too short")
    if transfer_syntax.is_deflated:
        return  # checking would mean inflating the whole stream; the worker's full read catches it
    last: RawDataElement | None = None
    uids: dict[str, str | None] = {}
    try:
        elements = data_element_generator(
            reader(data),
            is_implicit_VR=transfer_syntax.is_implicit_VR,
            is_little_endian=transfer_syntax.is_little_endian,
            defer_size=256,
        )
        for element in elements:
            last = cast(RawDataElement, element)
            keyword = CHECKED_UIDS.get(last.tag)
            if keyword is not None:
                uids[keyword] = _uid_text(last)
    except Exception as exc:
        raise InvalidDataset(f"dataset does not parse: {type(exc).__name__}") from None
    if last is None:
        raise InvalidDataset("dataset holds no elements")
    # Deferred values are skipped by seeking, so a cut-off stream parses; its last element shows it.
    if last.length != UNDEFINED_LENGTH and last.value_tell + last.length > total:
        raise InvalidDataset(
            f"dataset truncated: element {last.tag} ends at {last.value_tell + last.length}, stream has {total} bytes"
        )
    for keyword, value in uids.items():
        if value == "" and keyword in OPTIONAL_WHEN_EMPTY:
            continue  # an empty group UID names nothing; the worker files it under UNKNOWN
        check_uid(value or "", f"the dataset's {keyword}")
    sop_class = uids.get("SOPClassUID")
    if sop_class is not None and sop_class != str(sop_class_uid):
        raise InvalidDataset(
            "SOP Class UID in the dataset differs from the request", DOES_NOT_MATCH_SOP_CLASS
        )
    instance = uids.get("SOPInstanceUID")
    if sop_instance_uid and instance is not None and instance != sop_instance_uid:
        raise InvalidDataset("SOP Instance UID in the dataset differs from the request")
