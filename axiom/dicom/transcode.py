"""Change an instance's transfer syntax: decompress (pylibjpeg, Pillow), then encode if asked.

Targets are the uncompressed little-endian syntaxes and the compressed ones pydicom has an encoder
for here (RLE Lossless; JPEG 2000 Lossless with pylibjpeg-openjpeg). Checked when a destination is
configured (``check_target``), so a send never meets an impossible target.
"""

from __future__ import annotations

import copy

import pydicom.uid
from pydicom import Dataset
from pydicom.pixels import get_encoder
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from axiom.dicom.pixel_bounds import PixelBoundsError, check_decodable

UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


class TranscodeError(ValueError):
    """The instance cannot be brought to the target syntax (no decoder, damaged pixel data)."""


def resolve_target(text: str) -> UID:
    """A transfer syntax from its UID or pydicom keyword (``ExplicitVRLittleEndian``, ``RLELossless``)."""
    uid = UID(text) if text[:1].isdigit() else UID(getattr(pydicom.uid, text, "") or "")
    if not uid or not uid.is_transfer_syntax:
        raise ValueError(f"{text!r} is not a transfer syntax UID or keyword")
    return uid


def check_target(text: str) -> str:
    """For config validation: the target resolves and can be written here."""
    uid = resolve_target(text)
    if uid in UNCOMPRESSED:
        return text
    if not uid.is_compressed:
        raise ValueError(f"{uid.name} is not supported as a target; use ExplicitVRLittleEndian")
    try:
        available = get_encoder(uid).is_available
    except NotImplementedError:
        available = False
    if not available:
        raise ValueError(f"no encoder for {uid.name} is installed; targets: uncompressed, RLELossless")
    return text


def transcode(dataset: Dataset, target: UID) -> Dataset:
    """A copy of ``dataset`` in ``target`` (the same object when it is already there)."""
    current = UID(dataset.file_meta.TransferSyntaxUID)
    if current == target:
        return dataset
    if current.is_compressed:
        try:
            check_decodable(dataset)
        except PixelBoundsError as exc:
            raise TranscodeError(f"cannot transcode {current.name}: {exc}") from None
    result = copy.deepcopy(dataset)
    try:
        # pydicom gives a (de)compressed dataset a new SOP Instance UID unless told not to; a router
        # must keep the instance's identity.
        if current.is_compressed:
            result.decompress(generate_instance_uid=False)
        if target.is_compressed:
            result.compress(target, generate_instance_uid=False)
        else:
            result.file_meta.TransferSyntaxUID = target
    except Exception as exc:  # decoders raise many kinds for damaged or unsupported data
        raise TranscodeError(
            f"cannot transcode {current.name} to {target.name} ({type(exc).__name__})"
        ) from None
    return result
