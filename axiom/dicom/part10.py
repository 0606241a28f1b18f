"""DICOM File Format (Part 10) helpers shared by the destinations: which transfer syntax a dataset is
in, and its Part 10 encoding (the received bytes when unchanged)."""

from __future__ import annotations

from io import BytesIO

from pydicom import dcmwrite
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from axiom.dicom.file_meta import encode_file_meta
from axiom.dicom.raw_encode import can_write_raw, raw_encoded
from axiom.domain.instances import OutgoingInstance

PREAMBLE = b"\x00" * 128


def transfer_syntax_of(dataset: Dataset) -> UID:
    """The syntax the dataset is encoded in: its file meta, else how it was read."""
    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        return UID(file_meta.TransferSyntaxUID)
    implicit = dataset.original_encoding[0]
    if implicit is None:
        implicit = dataset.is_implicit_VR
    return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian


def with_transfer_syntax(dataset: Dataset, transfer_syntax: UID) -> Dataset:
    """``dataset`` itself when its file meta names its syntax; otherwise a view that does.

    The view shares the elements (no copy) but has its own file meta, so the caller's dataset is
    left untouched for the other destinations.
    """
    file_meta = getattr(dataset, "file_meta", None)
    if file_meta is not None and "TransferSyntaxUID" in file_meta:
        return dataset
    view = Dataset(dataset)
    view.file_meta = FileMetaDataset(file_meta or {})
    view.file_meta.TransferSyntaxUID = transfer_syntax
    return view


def file_format_view(dataset: Dataset) -> Dataset:
    """A view of ``dataset`` (elements shared, not copied) that any ``dcmwrite`` writes as Part 10:
    a preamble and complete file meta naming this dataset's SOP class, instance and syntax.

    Raises AttributeError/KeyError/ValueError when the dataset lacks its SOP Class or Instance UID.
    """
    view = Dataset(dataset)
    meta = FileMetaDataset(getattr(dataset, "file_meta", None) or {})
    meta.TransferSyntaxUID = transfer_syntax_of(dataset)
    meta.MediaStorageSOPClassUID = UID(dataset.SOPClassUID)
    meta.MediaStorageSOPInstanceUID = UID(dataset.SOPInstanceUID)
    validate_file_meta(meta, enforce_standard=True)
    view.file_meta = meta
    preamble = getattr(dataset, "preamble", None)
    view.preamble = preamble if preamble and len(preamble) == 128 else PREAMBLE
    return view


# Uncompressed little-endian syntaxes and how they encode (implicit VR, little endian).
_NATIVE = {ExplicitVRLittleEndian: (False, True), ImplicitVRLittleEndian: (True, True)}


def encode_part10(instance: OutgoingInstance) -> bytes:
    """The dataset as a Part 10 file, with a preamble of zeros (see ``encode_part10_chunks``)."""
    return b"".join(encode_part10_chunks(instance))


def encode_part10_chunks(instance: OutgoingInstance) -> list[bytes]:
    """The dataset as a Part 10 file, with a preamble of zeros, in chunks to be written in order.

    Never the preamble it was read with: a spooled file's preamble is Axiom's own (a spool slot's
    mark, length and CRC-32 of the received bytes), and a changed instance, an anonymized one above
    all, must not carry a checksum of what it was. A dataset already in its file meta's syntax
    (explicit or implicit VR little endian, as received) is written with our File Meta encoder and,
    its character set unchanged, ``raw_encoded`` (elements nobody converted written as read, the
    pixel data handed on uncopied), else pydicom's ``write_dataset``: the same bytes as
    ``dcmwrite`` either way, without its deep copy of the file meta. Anything else goes through
    ``dcmwrite``.
    """
    dataset = instance.dataset
    meta = getattr(dataset, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    encoding = _NATIVE.get(syntax) if syntax is not None else None
    if meta is not None and encoding is not None and tuple(dataset.original_encoding) == encoding:
        head = PREAMBLE + b"DICM" + encode_file_meta(meta)
        implicit = encoding[0]
        if can_write_raw(dataset, implicit):
            return [head, *raw_encoded(dataset, implicit)]
        buffer = DicomBytesIO()
        buffer.is_implicit_VR, buffer.is_little_endian = encoding
        write_dataset(buffer, dataset)
        return [head, buffer.getvalue()]
    view = Dataset(dataset)  # elements shared: the caller's dataset keeps its preamble
    view.file_meta = meta if meta is not None else FileMetaDataset()
    view.preamble = PREAMBLE
    view.set_original_encoding(*dataset.original_encoding)
    out = BytesIO()
    dcmwrite(out, view, enforce_file_format=True)
    return [out.getvalue()]


def part10_bytes(instance: OutgoingInstance) -> bytes:
    """The instance as a Part 10 file: the spooled bytes when unchanged, else a fresh encoding."""
    if instance.source_file is not None:
        try:
            return instance.source_file.read_bytes()
        except FileNotFoundError:
            # The spooled copy is gone; the dataset in hand is the same instance, so encode it.
            pass
    return encode_part10(instance)
