"""Decompression bombs fail one instance, permanently, before any decoder allocates: a codestream
claiming more than the declared Rows x Columns, or a declared size over the limit."""

from __future__ import annotations

import pytest
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit

from axiom.dicom.pixel_bounds import check_decodable
from axiom.dicom.transcode import TranscodeError, transcode
from tests.factories import jpeg2000_available, jpeg_available, make_dataset


def _bomb(syntax: str) -> object:
    ds = make_dataset(modality="MR" if syntax == JPEG2000Lossless else "OT", transfer_syntax=syntax)
    frame = bytearray(next(generate_frames(ds.PixelData, number_of_frames=1)))
    if syntax == JPEGBaseline8Bit:
        sof = frame.find(b"\xff\xc0")
        frame[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2  # height, width
    else:
        siz = frame.find(b"\xff\x4f\xff\x51") + 4
        frame[siz + 4 : siz + 12] = (60000).to_bytes(4, "big") * 2  # Xsiz, Ysiz
    ds.PixelData = encapsulate([bytes(frame)])
    return ds


@pytest.mark.parametrize("syntax", [JPEGBaseline8Bit, JPEG2000Lossless])
def test_a_codestream_larger_than_declared_is_refused(syntax: str) -> None:
    available = jpeg_available() if syntax == JPEGBaseline8Bit else jpeg2000_available()
    if not available:
        pytest.skip("Pillow cannot write this syntax here")
    honest = make_dataset(modality="MR" if syntax == JPEG2000Lossless else "OT", transfer_syntax=syntax)
    check_decodable(honest)  # a real frame passes
    with pytest.raises(TranscodeError, match="claims 60000x60000"):
        transcode(_bomb(syntax), ExplicitVRLittleEndian)  # type: ignore[arg-type]


def test_a_declared_size_over_the_limit_is_refused() -> None:
    ds = make_dataset(transfer_syntax=JPEGBaseline8Bit, modality="OT") if jpeg_available() else None
    if ds is None:
        pytest.skip("Pillow cannot write JPEG here")
    ds.Rows = ds.Columns = 65535
    ds.NumberOfFrames = 1000
    with pytest.raises(TranscodeError, match="over the decoding limit"):
        transcode(ds, ExplicitVRLittleEndian)
