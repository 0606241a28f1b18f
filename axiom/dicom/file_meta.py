"""The File Meta Information of a spooled instance, encoded directly where it is the usual one.

pydicom's ``write_file_meta_info`` validates the group, encodes it element by element through its
generic writer and then once more for the group length: ~0.25 ms per instance on the listener's
association thread, while the sender waits. A spooled file's meta is a handful of short ASCII
elements (the SOP class and instance, the transfer syntax, the implementation, the AE titles), so
those are packed here with ``struct``, Explicit VR Little Endian, in tag order. Anything else (an
element outside the list, a value that is not a plain ASCII string, a missing required element
that pydicom would fill in or refuse) goes through
pydicom as before. A meta read from a spooled file (the worker re-encoding a changed instance) is
taken as pydicom takes it: the elements its validation reads are converted, the others written as
read. tests/unit/dicom/test_file_meta.py checks the bytes equal pydicom's.

The listener does not even build the dataset: ``pack_store_meta`` packs a C-STORE's meta from the
request's UIDs and the AE titles (pynetdicom's ``create_file_meta`` validates each UID through
pydicom's setters, ~0.2 ms per instance while the sender waits), the same bytes.
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pynetdicom import PYNETDICOM_IMPLEMENTATION_UID, PYNETDICOM_IMPLEMENTATION_VERSION

_GROUP_LENGTH = 0x00020000
_VERSION = 0x00020001
# The text elements encoded here, with their VR and the byte that pads an odd length.
_TEXT: dict[int, tuple[str, bytes]] = {
    0x00020002: ("UI", b"\0"),  # Media Storage SOP Class UID
    0x00020003: ("UI", b"\0"),  # Media Storage SOP Instance UID
    0x00020010: ("UI", b"\0"),  # Transfer Syntax UID
    0x00020012: ("UI", b"\0"),  # Implementation Class UID
    0x00020013: ("SH", b" "),  # Implementation Version Name
    0x00020016: ("AE", b" "),  # Source Application Entity Title
    0x00020017: ("AE", b" "),  # Sending Application Entity Title
    0x00020018: ("AE", b" "),  # Receiving Application Entity Title
}
# Elements pydicom refuses a meta without (Type 1) or fills in when missing or empty (the version,
# ImplementationClassUID); the version name it fills in only when missing.
_NON_EMPTY = (_VERSION, 0x00020002, 0x00020003, 0x00020010, 0x00020012)
_VERSION_NAME = 0x00020013
# Elements pydicom's validation reads (and so converts) before writing; the others it writes raw.
_CONVERTED = frozenset((*_NON_EMPTY, 0x00020000))
_SHORT = struct.Struct("<HH2sH")
_LONG = struct.Struct("<HH2s2xI")


def _raw(element: RawDataElement, tag: int) -> bytes | None:
    """A text element as read from a file, written as it was read (as pydicom writes one it has
    not converted), when it is explicit VR little endian, of the expected VR and an even length."""
    vr_pad = _TEXT.get(tag)
    value = element.value
    if vr_pad is None or element.is_implicit_VR or not element.is_little_endian:
        return None
    if vr_pad[0] != element.VR or not isinstance(value, bytes) or len(value) % 2 or len(value) > 0xFFFF:
        return None
    return _SHORT.pack(0x0002, tag & 0xFFFF, vr_pad[0].encode(), len(value)) + value


def _direct(meta: FileMetaDataset) -> bytes | None:
    parts: list[bytes] = []
    seen = set()
    for element in sorted(meta.elements(), key=lambda e: e.tag):
        tag = element.tag
        if tag == _GROUP_LENGTH:
            continue
        if not isinstance(element, DataElement):
            if tag not in _CONVERTED:
                raw = _raw(element, tag)
                if raw is None:
                    return None
                parts.append(raw)
                continue
            # pydicom's validation converts these before writing them: so do we.
            element = meta[tag]
        value = element.value
        if tag == _VERSION:
            if not isinstance(value, bytes) or len(value) != 2 or element.VR != "OB":
                return None
            parts.append(_LONG.pack(0x0002, 0x0001, b"OB", 2) + value)
            seen.add(tag)
            continue
        vr_pad = _TEXT.get(tag)
        if vr_pad is None or not isinstance(value, str) or vr_pad[0] != element.VR:
            return None
        part = _text(tag, value)
        if part is None:
            return None
        parts.append(part)
        if value:
            seen.add(tag)
    if any(tag not in seen for tag in _NON_EMPTY) or _VERSION_NAME not in meta:
        return None
    body = b"".join(parts)
    return _SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(body)) + body


def _text(tag: int, value: str) -> bytes | None:
    vr, pad = _TEXT[tag]
    if not value.isascii() or "\\" in value:
        return None
    encoded = value.encode("ascii")
    if len(encoded) % 2:
        encoded += pad
    if len(encoded) > 0xFFFF:
        return None
    return _SHORT.pack(0x0002, tag & 0xFFFF, vr.encode(), len(encoded)) + encoded


def pack_store_meta(
    sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str, calling_ae: str, called_ae: str
) -> bytes | None:
    """The encoded File Meta of a received C-STORE: what ``encode_file_meta`` gives for pynetdicom's
    ``create_file_meta`` with the AE titles set, or None for a value that is not plain ASCII (then
    the caller builds the dataset, and pydicom decides)."""
    values = (
        (0x00020002, sop_class_uid),
        (0x00020003, sop_instance_uid),
        (0x00020010, transfer_syntax),
        (0x00020012, PYNETDICOM_IMPLEMENTATION_UID),
        (0x00020013, PYNETDICOM_IMPLEMENTATION_VERSION),
        (0x00020017, calling_ae),
        (0x00020018, called_ae),
    )
    if not (sop_class_uid and sop_instance_uid and transfer_syntax):
        return None  # pydicom fills in or refuses a missing required element
    parts = [_LONG.pack(0x0002, 0x0001, b"OB", 2) + b"\0\1"]
    for tag, value in values:
        part = _text(tag, value)
        if part is None:
            return None
        parts.append(part)
    body = b"".join(parts)
    return _SHORT.pack(0x0002, 0x0000, b"UL", 4) + struct.pack("<I", len(body)) + body


def encode_file_meta(meta: FileMetaDataset | bytes) -> bytes:
    """The encoded File Meta Information group (after the preamble and ``DICM``); ``meta`` may be
    that already (``pack_store_meta``)."""
    if isinstance(meta, bytes):
        return meta
    direct = _direct(meta)
    if direct is not None:
        return direct
    buffer = BytesIO()
    write_file_meta_info(buffer, meta, enforce_standard=True)  # type: ignore[arg-type]
    return buffer.getvalue()
