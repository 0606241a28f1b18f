"""docs/operations.md#decoders says which install decodes which transfer syntax; pydicom agrees.

The test environment has the core decoders and the ``jpeg`` extra (GDCM) but not the GPL one, so a
syntax documented as "core" must have a decoder other than GDCM, and one documented as needing
``jpeg`` must have GDCM and nothing else. Then real frames are decoded with the core plugins.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless, JPEGBaseline8Bit

from axiom.dicom.transcode import transcode
from tests.factories import make_dataset

DOCS = Path(__file__).resolve().parents[3] / "docs" / "operations.md"
ROW = re.compile(r"^\| (?P<name>[^|]+) \| (?P<uid>1\.2\.840\.10008\.1\.2[.\d]*) \| (?P<by>[^|]+) \|$")


def documented() -> dict[UID, str]:
    section = DOCS.read_text().split("### Decoders", 1)[1].split("\n#", 1)[0]
    rows = {UID(m["uid"]): m["by"] for line in section.splitlines() if (m := ROW.match(line))}
    assert len(rows) >= 10, "the decoder table in docs/operations.md did not parse"
    return rows


@pytest.mark.parametrize("uid", list(documented()), ids=lambda uid: uid.name)
def test_the_documented_install_decodes_the_syntax(uid: UID) -> None:
    plugins = set(get_decoder(uid).available_plugins)
    if documented()[uid].startswith("core"):
        assert plugins - {"gdcm"}, f"{uid.name}: no core decoder ({plugins})"
    else:
        assert documented()[uid].startswith("`jpeg`")
        assert plugins == {"gdcm"}, f"{uid.name}: documented as needing the jpeg extra, has {plugins}"


@pytest.mark.parametrize(
    ("syntax", "plugin", "modality"),
    [(JPEGBaseline8Bit, "pillow", "OT"), (JPEG2000Lossless, "pylibjpeg", "MR")],
)
def test_core_plugins_decode_real_frames(syntax: UID, plugin: str, modality: str) -> None:
    encoded = make_dataset(modality=modality, transfer_syntax=syntax)
    decoder = get_decoder(syntax)
    core, _ = decoder.as_array(encoded, decoding_plugin=plugin)
    other, _ = decoder.as_array(encoded, decoding_plugin="gdcm")  # an independent implementation
    assert core.shape == (encoded.Rows, encoded.Columns) and core.any()
    assert np.abs(core.astype(np.int32) - other.astype(np.int32)).max() <= (
        0 if syntax == JPEG2000Lossless else 2
    )
    # The path a destination's transfer-syntax policy takes.
    assert transcode(encoded, ExplicitVRLittleEndian).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
