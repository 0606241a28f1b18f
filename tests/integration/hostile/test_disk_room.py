"""A stranger cannot fill the disk through the listener: under the low watermark of free space the
listener answers 0xA700 before writing anything, and takes instances again above the high one."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from axiom.config import Settings
from tests.factories import Corpus
from tests.support.dcmtk import free_port
from tests.support.listener import RawStore, running_listener, send_raw
from tests.support.tmpfs import small_tmpfs

pytestmark = pytest.mark.integration

MIB = 1 << 20


def _store(server: object, path: Path, folder: Path) -> int | None:
    ds = dcmread(path)
    raw = path.read_bytes()
    offset = 132 + 12 + int(ds.file_meta.FileMetaInformationGroupLength)
    store = RawStore(str(ds.SOPClassUID), str(ds.SOPInstanceUID), raw[offset:])
    port = server.server_address[1]  # type: ignore[attr-defined]
    return send_raw(port, [store], folder, transfer_syntax=str(ds.file_meta.TransferSyntaxUID))[0]


def test_listener_pauses_under_the_low_watermark_and_resumes_above_the_high(
    settings_factory: Callable[..., Settings], corpus_small: Corpus, tmp_path: Path
) -> None:
    with small_tmpfs(tmp_path / "volume", size_kib=24 * 1024) as volume:
        settings = settings_factory(
            data_dir=volume / "data",
            dicom_host="127.0.0.1",
            dicom_port=free_port(),
            spool_fsync=False,
            disk_low_watermark_bytes=8 * MIB,
            disk_high_watermark_bytes=12 * MIB,
        )
        ballast = volume / "ballast"
        ballast.write_bytes(b"\0" * (18 * MIB))  # leaves ~6 MiB free: under the low watermark
        first, second = corpus_small.paths[:2]
        with running_listener(settings) as server:
            assert _store(server, first, tmp_path / "sent") == 0xA700
            assert list(settings.spool_dir.iterdir()) == []
            assert list(settings.quarantine_dir.iterdir()) == []
            ballast.unlink()  # ~24 MiB free: above the high watermark
            time.sleep(1.1)  # the volume is asked at most once a second
            assert _store(server, second, tmp_path / "sent") == 0x0000
        assert [dcmread(p).SOPInstanceUID for p in settings.spool_dir.glob("*.dcm")] == [
            dcmread(second).SOPInstanceUID
        ]
