"""A large instance streamed into a spool slot as it arrives (axiom/dicom/slot_stream.py, read by
axiom/dicom/store_request.py): the spooled file is byte for byte what the spool writes from memory,
nothing is in the spool before the commit, and an uncommitted stream leaves no slot behind (closed,
dropped, aborted, or its process gone)."""

from __future__ import annotations

import gc
import os
import types
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE

from axiom.dicom.file_meta import encode_file_meta
from axiom.dicom.slot_stream import STREAM_AFTER, StreamedSlot
from axiom.dicom.spool import Spool
from axiom.dicom.spool_slots import holds_instance, recover_slots, slots_dir
from axiom.dicom.store_request import _OPENER, _receive_primitive, store_request_handlers, streamed
from axiom.dicom.writeback import start_writeback
from tests.factories import make_dataset, write_instance
from tests.unit.dicom.test_spool import _meta_and_body
from tests.unit.dicom.test_spool_slots import _ready_spool
from tests.unit.dicom.test_store_request import _command, _pdata


@pytest.fixture
def ct_file(tmp_path: Path) -> Path:
    """A CT-size instance (512x512, 16-bit: some 512 KiB)."""
    return write_instance(make_dataset(rows=512, columns=512), tmp_path / "ct.dcm")


def _written_slots(spool_dir: Path) -> list[Path]:
    """Slot files holding anything (a ready slot is empty)."""
    return [p for p in slots_dir(spool_dir).glob("*.dcm") if p.stat().st_size > 0]


def _stream(spool: Spool, meta: bytes, data: bytes, step: int = 16384) -> StreamedSlot:
    stream = spool.stream(meta)
    assert stream is not None
    for at in range(0, len(data), step):
        stream.append(data[at : at + step])
    return stream


def test_a_streamed_instance_is_the_file_the_spool_writes_from_memory(tmp_path: Path, ct_file: Path) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    meta, body = _meta_and_body(ct_file)
    encoded = encode_file_meta(meta)
    stream = _stream(spool, encoded, body)

    assert stream.size == len(body) and bytes(stream.view()) == body == stream.read_back()
    assert not list((tmp_path / "spool").glob("*.dcm"))  # nothing spooled before the commit
    path = spool.write(meta, stream.view(), prewritten=stream)
    stream.close()

    from_memory = spool.write(meta, body)
    assert path.parent == tmp_path / "spool" and path != from_memory
    assert path.read_bytes() == from_memory.read_bytes()
    fd = os.open(path, os.O_RDONLY)
    try:
        assert holds_instance(fd)
    finally:
        os.close(fd)
    assert _written_slots(tmp_path / "spool") == []


def test_another_meta_is_written_the_usual_way_and_the_stream_removed(tmp_path: Path, ct_file: Path) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    meta, body = _meta_and_body(ct_file)
    stream = _stream(spool, encode_file_meta(meta), body)
    meta.ReceivingApplicationEntityTitle = "OTHER"

    assert stream.commit(encode_file_meta(meta)) is None
    path = spool.write(meta, stream.view(), prewritten=stream)
    stream.close()

    assert path.read_bytes().endswith(body) and b"OTHER" in path.read_bytes()[:512]
    assert _written_slots(tmp_path / "spool") == []


def test_an_uncommitted_stream_is_removed_when_closed_or_dropped(tmp_path: Path, ct_file: Path) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    meta, body = _meta_and_body(ct_file)
    closed = _stream(spool, encode_file_meta(meta), body)
    dropped = _stream(spool, encode_file_meta(meta), body)
    assert len(_written_slots(tmp_path / "spool")) == 2

    closed.close()
    assert len(_written_slots(tmp_path / "spool")) == 1
    del dropped
    gc.collect()
    assert _written_slots(tmp_path / "spool") == []
    assert not list((tmp_path / "spool").glob("*.dcm"))


def test_a_stream_whose_process_died_is_removed_by_the_sweep(tmp_path: Path, ct_file: Path) -> None:
    spool_dir = tmp_path / "spool"
    meta, body = _meta_and_body(ct_file)
    child = os.fork()
    if child == 0:  # pragma: no cover - the child dies with its stream written but not committed
        spool = _ready_spool(spool_dir, tmp_path / "quarantine", 2)
        kept = _stream(spool, encode_file_meta(meta), body)
        os._exit(0 if kept.size == len(body) else 1)  # no finalizer runs: as a killed process
    _, status = os.waitpid(child, 0)
    assert status == 0
    assert len(_written_slots(spool_dir)) == 1

    moved, removed = recover_slots(spool_dir)

    assert moved == 0 and removed >= 1
    assert _written_slots(spool_dir) == [] and not list(spool_dir.glob("*.dcm"))


def test_writeback_is_started_on_a_real_file(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        os.write(fd, b"x" * 65536)
        assert start_writeback(fd, 0, 65536) is (os.uname().sysname == "Linux")
        assert start_writeback(fd, 0, 0) is False
    finally:
        os.close(fd)


def _provider(spool: Spool) -> Any:
    assoc = Association(AE(), "acceptor")
    dimse = assoc.dimse

    def opener(_assoc: Any, _context_id: int, request: C_STORE) -> StreamedSlot | None:
        assert str(request.AffectedSOPInstanceUID) == "1.2.3.4"
        return spool.stream(b"META")

    dimse.receive_primitive = types.MethodType(_receive_primitive, dimse)
    setattr(dimse, _OPENER, (opener, STREAM_AFTER))
    return dimse


def test_the_listener_writes_a_large_data_set_to_a_slot_before_it_is_complete(tmp_path: Path) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    dimse = _provider(spool)
    part = os.urandom(STREAM_AFTER // 2 + 1)
    dimse.receive_primitive(_pdata((1, b"\x03" + _command(5, "1.2.3.4")), (1, b"\x00" + part)))
    assert _written_slots(tmp_path / "spool") == []  # under STREAM_AFTER: in memory
    dimse.receive_primitive(_pdata((1, b"\x00" + part)))
    [slot] = _written_slots(tmp_path / "spool")
    assert slot.read_bytes().endswith(b"META" + part + part)  # on disk while the rest is on the wire
    dimse.receive_primitive(_pdata((1, b"\x02" + b"tail")))

    _, request = dimse.msg_queue.get_nowait()
    stream = streamed(request)
    assert stream is not None and request.DataSet.getvalue() == b""
    assert bytes(stream.view()) == part + part + b"tail"
    path = stream.commit(b"META")
    stream.close()
    assert path is not None and path.read_bytes().endswith(b"META" + part + part + b"tail")


def test_a_small_data_set_stays_in_memory(tmp_path: Path) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    dimse = _provider(spool)
    dimse.receive_primitive(_pdata((1, b"\x03" + _command(5, "1.2.3.4")), (1, b"\x02" + b"small")))
    _, request = dimse.msg_queue.get_nowait()
    assert streamed(request) is None and request.DataSet.getvalue() == b"small"
    assert _written_slots(tmp_path / "spool") == []


@pytest.mark.parametrize("how", ["abort", "close"])
def test_a_data_set_cut_off_leaves_no_slot(tmp_path: Path, how: str) -> None:
    spool = _ready_spool(tmp_path / "spool", tmp_path / "quarantine", 4)
    dimse = _provider(spool)
    big = os.urandom(STREAM_AFTER + 1)
    dimse.receive_primitive(_pdata((1, b"\x03" + _command(5, "1.2.3.4")), (1, b"\x00" + big)))
    assert len(_written_slots(tmp_path / "spool")) == 1
    if how == "abort":  # a command fragment inside the data set: the association is aborted
        dimse.receive_primitive(_pdata((1, b"\x03" + _command(6, "1.2.3.5"))))
        assert dimse.dul.event_queue.get_nowait() == "Evt19"
    else:  # the connection ends mid-data set
        on_close = dict(store_request_handlers())
        on_close[next(k for k in on_close if k.name == "EVT_CONN_CLOSE")](
            types.SimpleNamespace(assoc=dimse.assoc)
        )
    assert dimse.msg_queue.empty()
    assert _written_slots(tmp_path / "spool") == []
    assert not list((tmp_path / "spool").glob("*.dcm"))
