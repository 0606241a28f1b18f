"""What decoding an instance's pixels may cost, checked before a decoder allocates anything.

A compressed frame names its own size in its codestream (JPEG SOF, JPEG 2000 SIZ); a decoder
allocates what the codestream says, whatever the dataset declares. A decompression bomb is a small
frame whose codestream claims a huge image. So decoding is allowed only when the declared size
(Rows x Columns x frames x samples x bytes per sample) is under a bound and every frame's
codestream is no larger than the declared Rows x Columns. Failing this is permanent for the
instance: no retry will make it decodable.
"""

from __future__ import annotations

import math

from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import _get_jpg_parameters
from pydicom.uid import UID, JPEG2000TransferSyntaxes, JPEGLSTransferSyntaxes, JPEGTransferSyntaxes

# 4 GiB decoded: far above any single real instance (a 2,000-frame 512x512 16-bit cine is 1 GiB).
MAX_DECODED_BYTES = 4 << 30
J2K_SOC_SIZ = b"\xff\x4f\xff\x51"


class PixelBoundsError(ValueError):
    """The pixel data would decode to more than its declared or allowed size."""


def declared_bytes(dataset: Dataset) -> int:
    frames = int(str(dataset.get("NumberOfFrames", 1) or 1).strip() or 1)
    samples = int(dataset.get("SamplesPerPixel", 1) or 1)
    bits = int(dataset.get("BitsAllocated", 8) or 8)
    return int(dataset.Rows) * int(dataset.Columns) * max(frames, 1) * samples * math.ceil(bits / 8)


def _frame_size(syntax: UID, frame: bytes) -> tuple[int, int] | None:
    """(rows, columns) a compressed frame's codestream claims, when its format says."""
    if syntax in JPEGTransferSyntaxes or syntax in JPEGLSTransferSyntaxes:
        info = _get_jpg_parameters(frame[:65536])
        return (info["height"], info["width"]) if "height" in info else None
    if syntax in JPEG2000TransferSyntaxes:
        start = frame.find(J2K_SOC_SIZ, 0, 4096)
        if start < 0:
            return None
        siz = frame[start + 4 : start + 4 + 20]  # Lsiz, Rsiz, Xsiz, Ysiz, XOsiz, YOsiz
        if len(siz) < 20:
            return None
        width = int.from_bytes(siz[4:8], "big") - int.from_bytes(siz[12:16], "big")
        height = int.from_bytes(siz[8:12], "big") - int.from_bytes(siz[16:20], "big")
        return height, width
    return None


def check_decodable(dataset: Dataset, max_bytes: int = MAX_DECODED_BYTES) -> None:
    """Raise PixelBoundsError unless decoding ``dataset``'s pixels stays within the bounds."""
    if "PixelData" not in dataset:
        return
    try:
        size = declared_bytes(dataset)
    except (AttributeError, ValueError, TypeError):
        raise PixelBoundsError("the image size attributes do not parse") from None
    if size > max_bytes:
        raise PixelBoundsError(
            f"declared pixel data of {size} bytes is over the decoding limit of {max_bytes}"
        )
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if not syntax.is_encapsulated:
        return
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    frames = int(str(dataset.get("NumberOfFrames", 1) or 1).strip() or 1)
    for frame in generate_frames(dataset.PixelData, number_of_frames=frames):
        claimed = _frame_size(syntax, frame)
        if claimed is not None and (claimed[0] > rows or claimed[1] > columns):
            raise PixelBoundsError(
                f"a frame's codestream claims {claimed[0]}x{claimed[1]}, over the declared {rows}x{columns}"
            )
