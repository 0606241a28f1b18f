"""Per-destination transfer-syntax policy and the C-STORE fallback for a peer that takes no
compressed syntax: real decoders (pylibjpeg, Pillow), a real DCMTK storescp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError
from pydicom import dcmread
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit, RLELossless

from axiom.destinations.filesystem import FilesystemDestinationConfig
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.dcmtk import StoreSCP, dcmtk_available
from tests.support.routing import apply_dict, fresh_runtime
from tests.support.services import require
from tests.unit.pipeline.test_route import _spool_dataset


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def _route(runtime: Runtime, tmp_path: Path, syntax: str, modality: str = "CT") -> tuple[np.ndarray, str]:
    ds = make_dataset(modality=modality, transfer_syntax=syntax)
    spooled = _spool_dataset(runtime, ds, tmp_path / "in.dcm")
    pixels = dcmread(spooled).pixel_array.copy()
    outcome = route_instance(runtime, message_for_spooled_file(spooled))
    assert outcome is not None and not outcome.retries, outcome
    return pixels, str(ds.SOPInstanceUID)


@pytest.mark.parametrize(
    ("source", "target", "modality"),
    [
        (JPEG2000Lossless, "ExplicitVRLittleEndian", "CT"),
        (JPEGBaseline8Bit, "1.2.840.10008.1.2", "US"),
        (JPEG2000Lossless, "RLELossless", "MR"),
    ],
)
def test_destination_receives_its_named_syntax(
    runtime: Runtime, tmp_path: Path, source: str, target: str, modality: str
) -> None:
    apply_dict(
        runtime,
        {
            "destinations": [{"name": "plain", "type": "filesystem", "transfer_syntax": target}],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["plain"]}]}],
        },
        tmp_path,
    )
    pixels, sop_uid = _route(runtime, tmp_path, source, modality)
    (stored,) = (runtime.settings.destinations_root / "plain").rglob("*.dcm")
    ds = dcmread(stored)
    wanted = {"ExplicitVRLittleEndian": "1.2.840.10008.1.2.1", "RLELossless": RLELossless}.get(target, target)
    assert ds.file_meta.TransferSyntaxUID == wanted
    assert np.array_equal(ds.pixel_array, pixels)
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == sop_uid


@pytest.mark.parametrize("target", ["JPEGBaseline8Bit", "1.2.3", "NoSuchSyntax"])
def test_a_target_that_cannot_be_written_is_refused_at_apply_time(target: str) -> None:
    with pytest.raises(ValidationError) as info:
        FilesystemDestinationConfig.model_validate({"name": "x", "transfer_syntax": target})
    assert "transfer_syntax" in str(info.value)


def test_cstore_decompresses_for_a_peer_that_takes_no_compressed_syntax(
    runtime: Runtime, tmp_path: Path
) -> None:
    require("DCMTK", dcmtk_available(), "storescp is not installed (apt-get install dcmtk)")
    with StoreSCP(tmp_path / "scp", accept="+x=") as scp:
        apply_dict(
            runtime,
            {
                "destinations": [
                    {
                        "name": "old-pacs",
                        "type": "cstore",
                        "host": "127.0.0.1",
                        "port": scp.port,
                        "ae_title": "STORESCP",
                    }
                ],
                "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["old-pacs"]}]}],
            },
            tmp_path,
        )
        pixels, sop_uid = _route(runtime, tmp_path, JPEG2000Lossless)
        (received,) = scp.received_files()
        ds = dcmread(received)
        assert ds.SOPInstanceUID == sop_uid
        assert not ds.file_meta.TransferSyntaxUID.is_compressed
        assert np.array_equal(ds.pixel_array, pixels)
