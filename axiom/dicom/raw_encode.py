"""Encode a dataset read from a file back into that file's encoding, writing every element nobody
converted as the bytes it was read with.

pydicom's ``write_dataset`` sends each element through ``write_data_element``: a fresh buffer per
element, the value copied into it and out again, the header written field by field. For a dataset
read from the spool and then changed in a few places (a rule's edit, the anonymizer), most
elements are still the ``RawDataElement`` pydicom read, whose value pydicom writes back unchanged
anyway; here their headers are packed with ``struct`` and large values (the pixel data) are handed
on as they are, not copied into the output. Converted elements (what was read or changed) still go
through pydicom's own ``write_data_element``, so the bytes are pydicom's
(tests/unit/dicom/test_raw_encode.py compares them with ``dcmwrite`` over varied datasets).

Only for a dataset still in the syntax it was read in, with its character set unchanged: otherwise
pydicom converts every element (VR fixes, re-encoded text) and the caller uses ``write_dataset``.
"""

from __future__ import annotations

import struct

from pydicom.charset import default_encoding
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

# Values at least this long go out as their own chunk instead of being copied into the buffer.
LARGE_VALUE = 64 * 1024
_UNDEFINED = 0xFFFFFFFF
_SEQUENCE_DELIMITER = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
_IMPLICIT = struct.Struct("<HHI")
_EXPLICIT_SHORT = struct.Struct("<HH2sH")
_EXPLICIT_LONG = struct.Struct("<HH2s2xI")
_PIXEL_DATA = 0x7FE00010
_ITEM = b"\xfe\xff\x00\xe0"
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)


def can_write_raw(dataset: Dataset, implicit: bool) -> bool:
    """Whether ``dataset`` is to be written little endian in the encoding it was read in, its
    character set unchanged: pydicom then writes its unconverted elements as read."""
    return tuple(dataset.original_encoding) == (implicit, True) and (
        dataset.original_character_set == dataset._character_set
    )


def _raw_header(element: RawDataElement, implicit: bool) -> bytes | None:
    """The tag, VR and length pydicom would write before this raw value; None where pydicom would
    do more than copy it (a value too long for a 16-bit length, no value read)."""
    value = element.value
    if not isinstance(value, bytes):
        return None
    undefined = element.length == _UNDEFINED
    if undefined and element.tag == _PIXEL_DATA and not value.startswith(_ITEM):
        return None  # pydicom refuses unencapsulated pixel data of undefined length: let it
    length = _UNDEFINED if undefined else len(value)
    tag = element.tag
    if implicit:
        return _IMPLICIT.pack(tag >> 16, tag & 0xFFFF, length)
    vr = element.VR
    if vr is None or len(vr) != 2:
        return None
    if vr in _LONG_VRS:
        return _EXPLICIT_LONG.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)
    if undefined or length > 0xFFFF:
        return None  # pydicom rewrites the VR as UN here: leave it to pydicom
    return _EXPLICIT_SHORT.pack(tag >> 16, tag & 0xFFFF, vr.encode("ascii"), length)


def raw_encoded(dataset: Dataset, implicit: bool) -> list[bytes]:
    """The encoded top-level elements of ``dataset`` (``can_write_raw`` must hold), as chunks whose
    concatenation is what ``write_dataset`` writes; large raw values are the dataset's own bytes."""
    chunks: list[bytes] = []
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit, True
    encodings = dataset.get("SpecificCharacterSet", default_encoding)
    for tag in sorted(dataset.keys()):
        if tag.element == 0 and tag.group > 6:
            continue  # retired group lengths, as write_dataset skips them (PS3.5 7.2)
        element = dataset.get_item(tag)
        header = _raw_header(element, implicit) if isinstance(element, RawDataElement) else None
        if header is None:
            write_data_element(buffer, element, encodings)
            continue
        buffer.write(header)
        value = element.value
        if len(value) >= LARGE_VALUE:
            chunks.append(buffer.getvalue())
            chunks.append(value)
            buffer = DicomBytesIO()
            buffer.is_implicit_VR, buffer.is_little_endian = implicit, True
        else:
            buffer.write(value)
        if element.length == _UNDEFINED:
            buffer.write(_SEQUENCE_DELIMITER)
    chunks.append(buffer.getvalue())
    return chunks
