"""Writing unconverted elements as read (axiom/dicom/raw_encode.py) gives exactly pydicom's bytes:
over both little-endian syntaxes, sequences of defined and undefined length, private and odd-length
elements, long values, encapsulated pixel data, and after edits; the pixel data is not copied."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from axiom.dicom.raw_encode import LARGE_VALUE, can_write_raw, raw_encoded
from tests.factories import make_dataset, write_instance


def _varied(syntax: str) -> FileDataset:
    ds = make_dataset(transfer_syntax=syntax, rows=256, columns=256)  # 128 KiB of pixel data
    ds.ReferencedImageSequence = Sequence([Dataset(), Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    ds.ReferencedImageSequence[1].ReferencedSOPInstanceUID = "1.2.3.45"
    ds["ReferencedImageSequence"].is_undefined_length = False
    ds.ProcedureCodeSequence = Sequence([Dataset()])
    ds.ProcedureCodeSequence[0].CodeValue = "ABC"
    ds.ProcedureCodeSequence[0].CodeMeaning = "odd"
    ds["ProcedureCodeSequence"].is_undefined_length = True
    block = ds.private_block(0x0011, "AXIOM TEST", create=True)
    block.add_new(0x01, "LO", "private value")
    block.add_new(0x02, "UN", b"\x01\x02\x03")
    ds.add_new(0x00091000, "OB", bytes(range(256)) * 300)  # a long value (75 KiB)
    ds.add_new(0x00290010, "LO", "")  # empty
    ds.ImageComments = "x"  # odd length, padded
    return ds


def _read_twice(tmp_path: Path, syntax: str) -> tuple[FileDataset, FileDataset]:
    """The same file read twice: one copy for the code under test, one for pydicom."""
    path = write_instance(_varied(syntax), tmp_path / "varied.dcm")
    return dcmread(path), dcmread(path)


def _pydicom(ds: Dataset, implicit: bool) -> bytes:
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit, True
    write_dataset(buffer, ds)
    return buffer.getvalue()


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_the_bytes_are_pydicoms_read_as_is_and_after_edits(tmp_path: Path, syntax: str) -> None:
    implicit = syntax == ImplicitVRLittleEndian
    ds, twin = _read_twice(tmp_path, syntax)
    for copy in (ds, twin):
        copy.file_meta.TransferSyntaxUID = syntax
    assert can_write_raw(ds, implicit)
    assert b"".join(raw_encoded(ds, implicit)) == _pydicom(twin, implicit)

    # As a rule or the anonymizer leaves it: some elements read, some changed, some deleted.
    for copy in (ds, twin):
        copy.PatientName = "ANON^CHANGED"
        copy.ProcedureCodeSequence[0].CodeMeaning = "changed"
        del copy.ReferencedImageSequence
        _ = copy.StudyDate  # read (converted), not changed
        del copy[0x00111002]
    encoded = b"".join(raw_encoded(ds, implicit))
    assert encoded == _pydicom(twin, implicit)
    full = BytesIO()
    dcmwrite(full, twin, enforce_file_format=True)
    assert full.getvalue().endswith(encoded)
    back = dcmread(BytesIO(full.getvalue()[: -len(encoded)] + encoded))
    assert back.PatientName == "ANON^CHANGED" and back.PixelData == ds.PixelData


def test_large_values_are_the_datasets_own_bytes_not_copies(tmp_path: Path) -> None:
    ds, _ = _read_twice(tmp_path, ExplicitVRLittleEndian)
    pixels = ds.get_item(0x7FE00010).value
    chunks = raw_encoded(ds, implicit=False)
    assert any(chunk is pixels for chunk in chunks)
    assert all(len(chunk) >= LARGE_VALUE or chunk is not pixels for chunk in chunks)


def test_encapsulated_pixel_data_of_undefined_length_is_pydicoms(tmp_path: Path) -> None:
    ds = make_dataset(transfer_syntax=ExplicitVRLittleEndian)
    frame = bytes(ds.PixelData)
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.PixelData = encapsulate([frame])  # opaque to this test: only its framing matters
    ds["PixelData"].is_undefined_length = True
    ds["PixelData"].VR = "OB"
    read = dcmread(write_instance(ds, tmp_path / "enc.dcm"))
    twin = dcmread(tmp_path / "enc.dcm")
    assert read.get_item(0x7FE00010).length == 0xFFFFFFFF
    assert b"".join(raw_encoded(read, implicit=False)) == _pydicom(twin, implicit=False)


def test_another_encoding_or_character_set_is_not_written_raw(tmp_path: Path) -> None:
    ds, _ = _read_twice(tmp_path, ImplicitVRLittleEndian)
    assert not can_write_raw(ds, implicit=False)  # a transcode: pydicom converts every element
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert not can_write_raw(ds, implicit=True)  # text is re-encoded in the new character set
