from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.filereader import read_file_meta_info

from axiom.dicom.spool import ForeignSpoolPath, Spool
from axiom.pipeline.recover import message_for_spooled_file
from tests.factories import Corpus


def _meta_and_body(path: Path):  # type: ignore[no-untyped-def]
    meta = read_file_meta_info(path)
    data = path.read_bytes()
    return meta, data[132 + 12 + int(meta.FileMetaInformationGroupLength) :]


def test_spooled_file_keeps_the_received_bytes_and_records_the_aes(
    tmp_path: Path, corpus_small: Corpus
) -> None:
    spool = Spool(tmp_path / "spool", tmp_path / "quarantine")
    info = corpus_small.instances[0]
    meta, body = _meta_and_body(info.path)
    meta.SendingApplicationEntityTitle = "MODALITY1"
    meta.ReceivingApplicationEntityTitle = "AXIOM"

    path = spool.write(meta, body)

    assert path.read_bytes().endswith(body)
    ds = dcmread(path)
    assert ds.SOPInstanceUID == info.sop_instance_uid
    message = message_for_spooled_file(path)
    assert (message.calling_ae, message.called_ae) == ("MODALITY1", "AXIOM")
    assert message.sop_instance_uid == info.sop_instance_uid
    assert message.transfer_syntax_uid == info.transfer_syntax_uid
    assert [p.name for p in (tmp_path / "spool").iterdir()] == [path.name]


def test_stale_files_are_the_old_ones_oldest_first(tmp_path: Path, corpus_small: Corpus) -> None:
    spool = Spool(tmp_path / "spool", tmp_path / "quarantine", fsync=False)
    meta, body = _meta_and_body(corpus_small.instances[0].path)
    old, older, fresh = (spool.write(meta, body) for _ in range(3))
    now = time.time()
    os.utime(old, (now - 100, now - 100))
    os.utime(older, (now - 200, now - 200))

    assert spool.stale_files(50, now=now) == sorted([old, older])
    assert fresh not in spool.stale_files(50, now=now)


def test_quarantine_file_moves_it_out_of_the_spool(tmp_path: Path, corpus_small: Corpus) -> None:
    spool = Spool(tmp_path / "spool", tmp_path / "quarantine", fsync=False)
    meta, body = _meta_and_body(corpus_small.instances[0].path)
    path = spool.write(meta, body)

    kept = spool.quarantine_file(path)

    assert not path.exists()
    assert kept.parent == tmp_path / "quarantine"
    assert kept.read_bytes().endswith(body)


def test_own_confines_task_paths_to_the_spool(tmp_path: Path, corpus_small: Corpus) -> None:
    spool = Spool(tmp_path / "spool", tmp_path / "quarantine", fsync=False)
    good = spool.write(*_meta_and_body(corpus_small.instances[0].path))
    assert spool.own(str(good)) == good.resolve()
    # Another spelling of the spool folder (through a symbolic link to it) is resolved, not refused.
    alias = tmp_path / "alias"
    alias.symlink_to(spool.spool_dir)
    assert spool.own(str(alias / good.name)) == good.resolve()
    outside = tmp_path / "destinations" / "x.dcm"
    outside.parent.mkdir()
    outside.write_bytes(b"x")
    link = spool.spool_dir / "link.dcm"
    link.symlink_to(outside)
    for forged in (
        str(outside),
        str(spool.spool_dir / ".." / "destinations" / "x.dcm"),
        str(spool.spool_dir / ".hidden.dcm"),
        str(spool.spool_dir / "sub" / "x.dcm"),
        str(link),
        "relative.dcm",
    ):
        with pytest.raises(ForeignSpoolPath):
            spool.own(forged)
