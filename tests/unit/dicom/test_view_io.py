"""Received bytes read in place (axiom/dicom/view_io.py): the same reads, seeks and parse as BytesIO,
without a copy of a large buffer."""

from __future__ import annotations

import io
import mmap
import os
import tracemalloc
from pathlib import Path

import pytest
from pydicom.uid import ExplicitVRLittleEndian

from axiom.dicom.validate import InvalidDataset, check_encoded_dataset
from axiom.dicom.view_io import COPY_UP_TO, reader
from tests.factories import make_dataset
from tests.support.listener import encode


def test_reads_and_seeks_as_bytesio_does() -> None:
    data = os.urandom(COPY_UP_TO + 12345)
    ours, theirs = reader(memoryview(data)), io.BytesIO(data)
    assert not isinstance(ours, io.BytesIO)
    for offset, whence, count in [
        (0, 0, 10),
        (100, 1, 5000),
        (-7, 2, 20),
        (COPY_UP_TO, 0, 1 << 16),
        (5, 2, 3),
    ]:
        assert ours.seek(offset, whence) == theirs.seek(offset, whence)
        assert ours.read(count) == theirs.read(count)
        assert ours.tell() == theirs.tell()
    assert isinstance(reader(memoryview(data[:100])), io.BytesIO)


def test_a_large_mapped_dataset_is_checked_without_a_copy(tmp_path: Path) -> None:
    ds = make_dataset(rows=1024, columns=1024)  # 2 MiB of pixels
    body = encode(ds)
    path = tmp_path / "body"
    path.write_bytes(body)
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        view = memoryview(mapped)
        try:
            tracemalloc.start()
            check_encoded_dataset(view, ExplicitVRLittleEndian, ds.SOPClassUID, ds.SOPInstanceUID)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            assert peak < len(body) // 8
            with pytest.raises(InvalidDataset, match="truncated"):
                check_encoded_dataset(view[: len(body) - 1000], ExplicitVRLittleEndian, ds.SOPClassUID)
        finally:
            view.release()
