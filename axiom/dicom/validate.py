"""Cheap structural checks of a received dataset before it is acknowledged.

The listener does not decode values (that is the worker's job); it walks element headers so that
garbage or a truncated stream is refused with a DICOM failure status instead of being spooled.
"""

from __future__ import annotations

from io import BytesIO
from typing import cast

from pydicom.dataelem import RawDataElement
from pydicom.filereader import data_element_generator
from pydicom.tag import Tag
from pydicom.uid import UID

UNDEFINED_LENGTH = 0xFFFFFFFF
SOP_CLASS_UID_TAG = Tag(0x0008, 0x0016)


class InvalidDataset(ValueError):
    """The payload is not a complete dataset; the message names what is wrong, never a value."""

    def __init__(self, reason: str, status: int = 0xC000) -> None:
        super().__init__(reason)
        self.status = status


def check_encoded_dataset(data: bytes | memoryview, transfer_syntax: UID, sop_class_uid: str) -> None:
    total = len(data)
    if total < 8:
        raise InvalidDataset(f"dataset of {total} bytes is too short")
    if transfer_syntax.is_deflated:
        return  # checking would mean inflating the whole stream; the worker's full read catches it
    last: RawDataElement | None = None
    sop_class: str | None = None
    try:
        elements = data_element_generator(
            BytesIO(data),
            is_implicit_VR=transfer_syntax.is_implicit_VR,
            is_little_endian=transfer_syntax.is_little_endian,
            defer_size=256,
        )
        for element in elements:
            last = cast(RawDataElement, element)
            if last.tag == SOP_CLASS_UID_TAG and last.value is not None:
                sop_class = bytes(last.value).rstrip(b"\x00 ").decode("ascii", "replace")
    except Exception as exc:
        raise InvalidDataset(f"dataset does not parse: {type(exc).__name__}") from None
    if last is None:
        raise InvalidDataset("dataset holds no elements")
    # Deferred values are skipped by seeking, so a cut-off stream parses; its last element shows it.
    if last.length != UNDEFINED_LENGTH and last.value_tell + last.length > total:
        raise InvalidDataset(
            f"dataset truncated: element {last.tag} ends at {last.value_tell + last.length}, stream has {total} bytes"
        )
    if sop_class is not None and sop_class != str(sop_class_uid):
        raise InvalidDataset("SOP Class UID in the dataset differs from the request", status=0xA900)
