"""A changed instance's Part 10 encoding (axiom/dicom/part10.py): pydicom's bytes after the preamble,
and a preamble of zeros, never the spool slot's mark and checksum of what was received."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from axiom.dicom.part10 import encode_part10
from axiom.dicom.spool_slots import MARK
from tests.factories import make_dataset, outgoing_instance, write_instance
from tests.unit.dicom.test_spool import _meta_and_body
from tests.unit.dicom.test_spool_slots import _ready_spool


def _pydicom(dataset: Dataset) -> bytes:
    out = BytesIO()
    dcmwrite(out, dataset, enforce_file_format=True)
    return out.getvalue()


def _spooled(tmp_path: Path, syntax: str) -> Path:
    """An instance as the listener spools it: through a slot, whose preamble carries its mark."""
    ds = make_dataset(transfer_syntax=syntax)
    ds.ReferencedImageSequence = Sequence([Dataset()])
    ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.4"
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 2)
    return spool.write(*_meta_and_body(write_instance(ds, tmp_path / "in.dcm")))


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_a_changed_spooled_instance_is_what_pydicom_writes_with_a_zero_preamble(
    tmp_path: Path, syntax: str
) -> None:
    path = _spooled(tmp_path, syntax)
    assert path.read_bytes().startswith(MARK)
    instance = outgoing_instance(path, keep_source=False)
    instance.dataset.PatientName = "ANON^CHANGED"  # as a rule's edit or the anonymizer
    instance.dataset.ReferencedImageSequence[0].ReferencedSOPInstanceUID = "1.2.3.5"

    encoded = encode_part10(instance)

    assert encoded[:128] == bytes(128)
    assert encoded[128:] == _pydicom(instance.dataset)[128:]
    assert instance.dataset.preamble.startswith(MARK)  # the caller's dataset is left as it was
    again = dcmread(BytesIO(encoded))
    assert again.PatientName == "ANON^CHANGED" and again.file_meta.TransferSyntaxUID == syntax


def test_other_datasets_go_through_dcmwrite_with_a_zero_preamble(tmp_path: Path) -> None:
    # Read as implicit VR, to be written as explicit (a transcode): not the encoding it was read in.
    path = write_instance(make_dataset(transfer_syntax=ImplicitVRLittleEndian), tmp_path / "i.dcm")
    instance = outgoing_instance(path, keep_source=False)
    instance.dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    instance.dataset.preamble = MARK.ljust(128, b"\x01")

    encoded = encode_part10(instance)

    assert encoded[:128] == bytes(128)
    assert encoded[128:] == _pydicom(instance.dataset)[128:]
    again = dcmread(BytesIO(encoded))
    assert again.SOPInstanceUID == instance.sop_instance_uid and not again.is_implicit_VR
    assert instance.dataset.preamble == MARK.ljust(128, b"\x01")
