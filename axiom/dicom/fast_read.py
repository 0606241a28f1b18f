"""Read a spooled Part 10 file into the dataset ``dcmread`` gives, faster in the plain case.

``dcmread`` takes each element through pydicom's generic generator: a read call, a VR decode and
several checks per element, ~0.5 ms for the 60-70 elements of an image header on the development
VM, once per instance in the worker. A spooled file is nearly always Explicit VR Little Endian with
every top-level element of defined length; then the elements are unpacked here with ``struct``
into the same ``RawDataElement``s (tag, VR, length, value, offset) pydicom's generator yields, and
the datasets are put together as ``read_partial`` does, so values are decoded later by pydicom as
before. Anything else (no preamble, another syntax, an undefined length, a sequence delimiter, a
VR pydicom does not know, a truncated value, command-set elements) is read by ``dcmread``.
tests/unit/dicom/test_fast_read.py compares the two element by element.
"""

from __future__ import annotations

import struct
from io import BytesIO

from pydicom import dcmread
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement, convert_raw_data_element, empty_value_for_VR
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

_PREAMBLE = 128
_SHORT = struct.Struct("<HH2sH")
_LONG_LENGTH = struct.Struct("<I")
_VRS = {str(vr).encode("ascii"): str(vr) for vr in VR}
_LONG_VRS = frozenset(str(vr) for vr in EXPLICIT_VR_LENGTH_32)
_UNDEFINED = 0xFFFFFFFF
_CHARACTER_SET = 0x00080005


def read_part10(data: bytes) -> FileDataset:
    """``dcmread(BytesIO(data))``, through the fast path where the file allows it."""
    fast = _fast(data)
    return fast if fast is not None else dcmread(BytesIO(data))


def _elements(
    data: bytes, pos: int, end: int, *, meta: bool
) -> tuple[dict[BaseTag, DataElement | RawDataElement], int] | None:
    """Explicit VR little endian elements from ``pos``: all of them up to ``end``, or with ``meta``
    those of group 0002 only; with the position after the last. None where pydicom's generator
    would do more than unpack (see the module docstring)."""
    elements: dict[BaseTag, DataElement | RawDataElement] = {}
    while pos < end:
        if end - pos < 8:
            return None
        group, element, vr_bytes, length = _SHORT.unpack_from(data, pos)
        if meta and group != 0x0002:
            break
        if group in (0x0000, 0xFFFE):
            return None  # command-set elements or item delimiters: pydicom's business
        vr = _VRS.get(vr_bytes)
        if vr is None:
            return None
        value_at = pos + 8
        if vr in _LONG_VRS:
            if end - value_at < 4:
                return None
            (length,) = _LONG_LENGTH.unpack_from(data, value_at)
            value_at += 4
        if length == _UNDEFINED or value_at + length > end:
            return None
        tag = BaseTag(group << 16 | element)
        value = data[value_at : value_at + length] if length else empty_value_for_VR(vr, raw=True)
        elements[tag] = RawDataElement(tag, vr, length, value, value_at, False, True)  # type: ignore[arg-type]
        pos = value_at + length
    return elements, pos


def _fast(data: bytes) -> FileDataset | None:
    if data[_PREAMBLE : _PREAMBLE + 4] != b"DICM":
        return None
    read_meta = _elements(data, _PREAMBLE + 4, len(data), meta=True)
    if read_meta is None or not read_meta[0]:
        return None
    meta_elements, start = read_meta
    # As pydicom's _read_file_meta_info leaves it: its first element and the syntax converted.
    file_meta = FileMetaDataset(meta_elements)
    file_meta.set_original_encoding(False, True, default_encoding)
    file_meta[next(iter(meta_elements))]
    group_length = file_meta.get("FileMetaInformationGroupLength")
    if group_length is not None and group_length != start - (_PREAMBLE + 4 + 12):
        return None
    if file_meta.get("TransferSyntaxUID") != ExplicitVRLittleEndian:
        return None
    read = _elements(data, start, len(data), meta=False)
    if read is None:
        return None
    raw = read[0]
    # What read_dataset does with the character set.
    dataset = Dataset(raw, parent_encoding=default_encoding)
    encoding: str | list[str] = default_encoding
    if _CHARACTER_SET in raw:
        charset = raw[BaseTag(_CHARACTER_SET)]
        assert isinstance(charset, RawDataElement)
        encoding = convert_encodings(convert_raw_data_element(charset).value)
    dataset.set_original_encoding(False, True, encoding)
    # What read_partial does with them.
    preamble = data[:_PREAMBLE]
    ds = FileDataset(BytesIO(data), dataset, preamble, file_meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds
