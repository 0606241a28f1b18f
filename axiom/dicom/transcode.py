"""Change an instance's transfer syntax: decompress (pylibjpeg, Pillow), then encode if asked.

Targets are the uncompressed little-endian syntaxes and the compressed ones pydicom has an encoder
for here (RLE Lossless; JPEG 2000 Lossless with pylibjpeg-openjpeg). Checked when a destination is
configured (``axiom.domain.transfer_syntax.check_target``), so a send never meets an impossible target.
"""

from __future__ import annotations

import copy

from pydicom import Dataset
from pydicom.uid import UID

from axiom.dicom.pixel_bounds import PixelBoundsError, check_decodable
from axiom.domain.transfer_syntax import resolve_target


class TranscodeError(ValueError):
    """The instance cannot be brought to the target syntax (no decoder, damaged pixel data)."""


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


__all__ = ["TranscodeError", "resolve_target", "transcode"]
