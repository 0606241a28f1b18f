"""Spool slots (axiom/dicom/spool_slots.py): one flush per stored instance, and a crash at any point
leaves either a complete instance the sweep publishes or a slot it removes, never a torn file read
as an instance, never a live listener's slot taken away."""

from __future__ import annotations

import fcntl
import os
import time
import zlib
from pathlib import Path

import pytest
from pydicom import dcmread

from axiom.config import Settings
from axiom.dicom.spool import Spool
from axiom.dicom.spool_slots import SlotPool, holds_instance, pool_for, preamble, recover_slots, slots_dir
from axiom.pipeline.recover import recover_spool
from tests.factories import Corpus
from tests.unit.dicom.test_spool import _meta_and_body
from workers.celery_app import create_app
from workers.publisher import CeleryPublisher


def _ready(pool: SlotPool, count: int) -> None:
    # The first take starts the pool in this process (and may find none ready yet).
    first = pool.take()
    if first is not None:
        pool._ready.appendleft(first)
    deadline = time.monotonic() + 10
    while len(pool._ready) < count:
        assert time.monotonic() < deadline, "slots not made"
        time.sleep(0.01)


def _ready_spool(spool_dir: Path, quarantine_dir: Path, slots: int) -> Spool:
    spool = Spool(spool_dir, quarantine_dir, slots=slots)
    assert spool._slots is not None
    _ready(spool._slots, slots)
    return spool


def _slot_names(spool_dir: Path) -> set[str]:
    return {p.name for p in slots_dir(spool_dir).glob("*.dcm")}


def test_an_instance_goes_into_a_ready_slot_and_lands_complete_in_the_spool(
    tmp_path: Path, corpus_small: Corpus
) -> None:
    spool_dir = tmp_path / "spool"
    spool = _ready_spool(spool_dir, tmp_path / "quarantine", 4)
    ready = _slot_names(spool_dir)
    info = corpus_small.instances[0]
    meta, body = _meta_and_body(info.path)

    path = spool.write(meta, body)

    # The slot itself moved: its name, now in the spool; no temporary file anywhere.
    assert path.parent == spool_dir and path.name in ready
    assert [p.name for p in spool_dir.iterdir()] == [path.name]
    assert path.name not in _slot_names(spool_dir)
    assert dcmread(path).SOPInstanceUID == info.sop_instance_uid
    assert path.read_bytes().endswith(body)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert holds_instance(fd)
    finally:
        os.close(fd)
    spool.close()
    assert _slot_names(spool_dir) == set()  # a clean stop leaves no spare slot behind


def test_without_fsync_or_with_no_slots_the_spool_writes_the_plain_way(tmp_path: Path) -> None:
    assert Spool(tmp_path / "a", tmp_path / "q", fsync=False, slots=8)._slots is None
    assert Spool(tmp_path / "b", tmp_path / "q", slots=0)._slots is None
    assert pool_for(tmp_path / "c", 8) is pool_for(tmp_path / "c", 8)  # one pool per folder and process


def _write_slot(spool_dir: Path, name: str, content: bytes) -> Path:
    path = slots_dir(spool_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_the_sweep_moves_a_complete_orphan_slot_removes_torn_and_empty_ones_and_spares_live_ones(
    tmp_path: Path, corpus_small: Corpus
) -> None:
    spool_dir = tmp_path / "spool"
    _ready_spool(spool_dir, tmp_path / "quarantine", 3)  # its pool (per process) holds these slots
    live = _slot_names(spool_dir)  # this process holds their locks
    info = corpus_small.instances[0]
    whole = info.path.read_bytes()[132:]
    complete = preamble(len(whole), zlib.crc32(whole)) + whole
    _write_slot(spool_dir, "1-complete.dcm", complete)  # stored, but the crash lost its rename
    _write_slot(spool_dir, "2-torn.dcm", complete[:-100])  # the crash came during the write
    _write_slot(spool_dir, "3-empty.dcm", b"")  # a spare slot of a process that died
    bad_crc = bytearray(complete)
    bad_crc[-1] ^= 0xFF
    _write_slot(spool_dir, "4-flipped.dcm", bytes(bad_crc))  # a write reordered by the disk

    assert recover_slots(spool_dir) == (1, 3)

    assert _slot_names(spool_dir) == live
    moved = spool_dir / "1-complete.dcm"
    assert dcmread(moved).SOPInstanceUID == info.sop_instance_uid
    assert [p.name for p in spool_dir.iterdir()] == [moved.name]


def test_the_sweep_publishes_an_instance_recovered_from_a_slot(tmp_path: Path, corpus_small: Corpus) -> None:
    settings = Settings(data_dir=tmp_path / "data", spool_recover_after_seconds=0.0)
    settings.spool_dir.mkdir(parents=True)
    whole = corpus_small.instances[1].path.read_bytes()[132:]
    _write_slot(settings.spool_dir, "5-orphan.dcm", preamble(len(whole), zlib.crc32(whole)) + whole)
    publisher = CeleryPublisher(create_app(settings))

    assert recover_spool(settings, publisher, publisher.queued_instances) == 1

    (task,) = (settings.broker_dir / "queue").iterdir()
    assert str(settings.spool_dir / "5-orphan.dcm") in task.read_text()
    assert corpus_small.instances[1].sop_instance_uid in task.read_text()


def test_a_forked_child_makes_its_own_slots(tmp_path: Path, corpus_small: Corpus) -> None:
    spool_dir = tmp_path / "spool"
    spool = _ready_spool(spool_dir, tmp_path / "quarantine", 2)
    parents = _slot_names(spool_dir)
    meta, body = _meta_and_body(corpus_small.instances[0].path)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through the pipe
        try:
            assert spool._slots is not None
            _ready(spool._slots, 2)
            os.write(write_end, spool.write(meta, body).name.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    written = os.read(read_end, 200).decode()
    os.close(read_end)
    os.waitpid(pid, 0)

    assert written and written not in parents  # not one of the parent's slots
    assert (spool_dir / written).exists()
    assert parents <= _slot_names(spool_dir)  # the parent's are intact and still its own
    for name in parents:
        fd = os.open(slots_dir(spool_dir) / name, os.O_RDONLY)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
