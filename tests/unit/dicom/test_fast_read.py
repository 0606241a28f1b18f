"""The fast reader (axiom/dicom/fast_read.py) gives what ``dcmread`` gives: the same raw elements
(tag, VR, length, value, offset), the same converted ones, the same file meta, preamble and
encodings; files it does not handle are read by ``dcmread`` itself."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from axiom.dicom.fast_read import _fast, read_part10
from tests.factories import make_dataset, write_instance


def _with_extras(ds: FileDataset, *, undefined_sequence: bool = False) -> FileDataset:
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Müller^Jürgen"
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    ds["ReferencedImageSequence"].is_undefined_length = undefined_sequence
    block = ds.private_block(0x0011, "AXIOM TEST", create=True)
    block.add_new(0x01, "LO", "private value")
    block.add_new(0x02, "UN", b"\x01\x02\x03\x04")
    ds.add_new(0x00291010, "OB", b"")  # an empty value
    ds.ImageComments = "x"
    return ds


def _same(fast: FileDataset, slow: FileDataset) -> None:
    assert list(fast.keys()) == list(slow.keys())
    for tag in list(slow._dict):
        assert fast._dict[tag] == slow._dict[tag], tag
    assert list(fast.file_meta.keys()) == list(slow.file_meta.keys())
    for tag in list(slow.file_meta._dict):
        assert fast.file_meta._dict[tag] == slow.file_meta._dict[tag], tag
    assert fast.preamble == slow.preamble
    assert fast.original_encoding == slow.original_encoding
    assert fast.original_character_set == slow.original_character_set
    assert fast.file_meta.original_encoding == slow.file_meta.original_encoding
    assert fast == slow  # every value decoded alike


@pytest.mark.parametrize("rows", [64, 512])
def test_a_plain_explicit_vr_file_is_read_fast_and_alike(tmp_path: Path, rows: int) -> None:
    data = write_instance(
        _with_extras(make_dataset(rows=rows, columns=rows)), tmp_path / "a.dcm"
    ).read_bytes()
    fast = _fast(data)
    assert fast is not None
    _same(fast, dcmread(BytesIO(data)))
    _same(read_part10(data), dcmread(BytesIO(data)))
    assert str(fast.PatientName) == "Müller^Jürgen"
    assert fast.ReferencedImageSequence[0].ReferencedSOPInstanceUID == "1.2.3.4"


@pytest.mark.parametrize(
    "case", ["implicit", "undefined sequence", "truncated", "no preamble", "trailing bytes"]
)
def test_other_files_are_left_to_dcmread(tmp_path: Path, case: str) -> None:
    syntax = ImplicitVRLittleEndian if case == "implicit" else ExplicitVRLittleEndian
    ds = _with_extras(make_dataset(transfer_syntax=syntax), undefined_sequence=case == "undefined sequence")
    data = write_instance(ds, tmp_path / "b.dcm").read_bytes()
    if case == "truncated":
        data = data[:-100]
    elif case == "no preamble":
        data = data[128:]
    elif case == "trailing bytes":
        data += b"\0\0\0"
    assert _fast(data) is None
    if case == "no preamble":
        with pytest.raises(Exception):  # noqa: B017 - dcmread's own refusal, whatever its type
            dcmread(BytesIO(data))
        return
    _same(read_part10(data), dcmread(BytesIO(data)))
