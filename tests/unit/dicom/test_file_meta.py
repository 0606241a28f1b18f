"""The directly encoded File Meta Information (axiom/dicom/file_meta.py) is byte for byte what
pydicom writes, and a meta it does not know is still written by pydicom."""

from __future__ import annotations

from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEG2000Lossless
from pynetdicom.dsutils import create_file_meta
from pynetdicom.sop_class import CTImageStorage, MRImageStorage

from axiom.dicom.file_meta import _direct, encode_file_meta, pack_store_meta


def _pydicom(meta: FileMetaDataset) -> bytes:
    buffer = BytesIO()
    write_file_meta_info(buffer, meta, enforce_standard=True)  # type: ignore[arg-type]
    return buffer.getvalue()


def _listener_meta(
    sop_class: str, sop_instance: str, syntax: str, calling: str, called: str
) -> FileMetaDataset:
    meta = create_file_meta(sop_class_uid=sop_class, sop_instance_uid=sop_instance, transfer_syntax=syntax)
    meta.SendingApplicationEntityTitle = calling
    meta.ReceivingApplicationEntityTitle = called
    return meta


@pytest.mark.parametrize(
    ("sop_class", "sop_instance", "syntax", "calling", "called"),
    [
        (
            CTImageStorage,
            "1.2.826.0.1.3680043.8.498.1234567890123456789012345678901234",
            ImplicitVRLittleEndian,
            "STORESCU",
            "AXIOM",
        ),
        (MRImageStorage, "1.2.3", ExplicitVRLittleEndian, "A", "AXIOM_RECEIVER16"),  # odd lengths
        (CTImageStorage, "1.2.34", JPEG2000Lossless, "MODALITY 1", "AX"),
    ],
)
def test_the_bytes_are_what_pydicom_writes(
    sop_class: str, sop_instance: str, syntax: str, calling: str, called: str
) -> None:
    meta = _listener_meta(sop_class, sop_instance, syntax, calling, called)
    assert _direct(meta) is not None
    assert encode_file_meta(meta) == _pydicom(
        _listener_meta(sop_class, sop_instance, syntax, calling, called)
    )

    # The listener packs the same bytes without building the dataset, and they pass through as is.
    packed = pack_store_meta(sop_class, sop_instance, syntax, calling, called)
    assert packed == _pydicom(_listener_meta(sop_class, sop_instance, syntax, calling, called))
    assert packed is not None and encode_file_meta(packed) is packed


@pytest.mark.parametrize(
    ("sop_instance", "calling"),
    [("1.2.3", "MODALITÄT"), ("1.2.3", "A\\B"), ("", "A")],
    ids=["non-ASCII AE title", "backslash", "no instance UID"],
)
def test_a_request_the_listener_cannot_pack_is_left_to_pydicom(sop_instance: str, calling: str) -> None:
    assert pack_store_meta(CTImageStorage, sop_instance, ExplicitVRLittleEndian, calling, "AXIOM") is None


def test_a_meta_without_the_implementation_or_with_other_elements_goes_through_pydicom() -> None:
    bare = FileMetaDataset()
    bare.MediaStorageSOPClassUID = CTImageStorage
    bare.MediaStorageSOPInstanceUID = "1.2.3"
    bare.TransferSyntaxUID = ExplicitVRLittleEndian
    assert _direct(bare) is None  # pydicom fills in the version and the implementation
    expected = _pydicom(bare)
    assert encode_file_meta(bare) == expected

    odd = _listener_meta(CTImageStorage, "1.2.3", ExplicitVRLittleEndian, "A", "B")
    odd.PrivateInformationCreatorUID = "1.2.3.4"
    assert _direct(odd) is None
    assert encode_file_meta(odd) == _pydicom(odd)


def test_a_missing_instance_uid_is_refused_as_pydicom_refuses_it() -> None:
    meta = _listener_meta(CTImageStorage, "1.2.3", ExplicitVRLittleEndian, "A", "B")
    del meta.MediaStorageSOPInstanceUID
    with pytest.raises(AttributeError):
        encode_file_meta(meta)


def _read_meta(meta_bytes: bytes) -> FileMetaDataset:
    return dcmread(BytesIO(b"\0" * 128 + b"DICM" + meta_bytes)).file_meta


def test_a_meta_read_from_a_file_is_written_as_pydicom_writes_it_even_when_partly_changed() -> None:
    """The worker re-encodes a changed instance with the meta it read from the spool: the elements
    pydicom's validation converts are converted, the others written as read, as pydicom does."""
    written = _pydicom(
        _listener_meta(MRImageStorage, "1.2.3", ExplicitVRLittleEndian, "A", "AXIOM_RECEIVER16")
    )
    read = _read_meta(written)
    assert _direct(read) is not None
    assert encode_file_meta(_read_meta(written)) == _pydicom(_read_meta(written)) == written

    changed, expected = _read_meta(written), _read_meta(written)
    for meta in (changed, expected):
        meta.MediaStorageSOPInstanceUID = "2.25.1234567"  # an anonymized instance's new UID
    assert _direct(changed) is not None
    assert encode_file_meta(changed) == _pydicom(expected)
    assert b"2.25.1234567" in encode_file_meta(changed)
