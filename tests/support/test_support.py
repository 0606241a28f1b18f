"""The test support itself: the corpus is valid DICOM, DCMTK sends it as-is, Orthanc restarts."""

from __future__ import annotations

import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.errors import InvalidDicomError
from pydicom.uid import JPEG2000Lossless, JPEGBaseline8Bit

from tests.factories import (
    LARGE,
    SMALL,
    Corpus,
    StudySpec,
    available_transfer_syntaxes,
    jpeg2000_available,
    write_corpus,
    write_garbage,
    write_truncated,
)
from tests.support.dcmtk import StoreSCP, dcmtk_available, storescu
from tests.support.orthanc import Orthanc
from tests.support.services import require, require_binary


def test_corpus_is_fast_and_covers_modalities_sizes_and_syntaxes(tmp_path: Path) -> None:
    started = time.monotonic()
    corpus = write_corpus(tmp_path / "c")
    elapsed = time.monotonic() - started

    assert elapsed < 3.0
    assert 40 <= len(corpus) <= 60
    assert {i.modality for i in corpus} >= {"CT", "MR", "CR", "DX", "US"}
    assert corpus.transfer_syntaxes == set(available_transfer_syntaxes())
    assert JPEGBaseline8Bit in corpus.transfer_syntaxes
    assert (JPEG2000Lossless in corpus.transfer_syntaxes) is jpeg2000_available()
    sizes = Counter((i.transfer_syntax_uid, i.rows) for i in corpus)
    for syntax in corpus.transfer_syntaxes:
        assert sizes[(syntax, SMALL)] and sizes[(syntax, LARGE)], syntax
    assert len(corpus.sop_instance_uids) == len(corpus)


def test_corpus_files_match_their_description(corpus_small: Corpus) -> None:
    per_series = Counter(i.series_instance_uid for i in corpus_small)
    for info in corpus_small:
        ds = dcmread(info.path)
        assert ds.SOPInstanceUID == info.sop_instance_uid
        assert ds.SOPClassUID == info.sop_class_uid
        assert ds.file_meta.TransferSyntaxUID == info.transfer_syntax_uid
        assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == (
            info.study_instance_uid,
            info.series_instance_uid,
        )
        assert ds.NumberOfSeriesRelatedInstances == per_series[info.series_instance_uid]
        assert ds.PatientID == info.patient_id and str(ds.PatientName)
        assert (ds.Rows, ds.Columns, ds.BitsAllocated) == (info.rows, info.columns, info.bits_allocated)
        if info.transfer_syntax_uid != JPEGBaseline8Bit:
            pixels = ds.pixel_array  # lossless: decodes back to the exact phantom
            assert pixels.shape == (info.rows, info.columns) and int(pixels.max()) > 0


def test_seed_makes_uids_reproducible(tmp_path: Path) -> None:
    studies = (StudySpec("CT", (2,)), StudySpec("US", (2,)))
    a = write_corpus(tmp_path / "a", studies=studies, seed=7)
    b = write_corpus(tmp_path / "b", studies=studies, seed=7)
    c = write_corpus(tmp_path / "c", studies=studies)
    assert a.sop_instance_uids == b.sop_instance_uids
    assert not a.sop_instance_uids & c.sop_instance_uids


def test_corpus_passes_dciodvfy(corpus_small: Corpus) -> None:
    dciodvfy = require_binary("dciodvfy")
    firsts = {(i.modality, i.transfer_syntax_uid): i for i in reversed(corpus_small.instances)}
    for info in firsts.values():
        result = subprocess.run(
            [dciodvfy, "-new", str(info.path)], capture_output=True, text=True, timeout=60
        )
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], (info.modality, info.transfer_syntax_uid, errors)


def test_bad_input_helpers_make_unreadable_files(corpus_small: Corpus, tmp_path: Path) -> None:
    big = next(i for i in corpus_small if i.rows == LARGE)
    truncated = write_truncated(big.path, tmp_path / "truncated.dcm")
    assert 0 < truncated.stat().st_size < big.path.stat().st_size
    with pytest.raises((EOFError, ValueError, OSError)):
        dcmread(truncated).pixel_array  # noqa: B018 - decoding is the point
    with pytest.raises(InvalidDicomError):
        dcmread(write_garbage(tmp_path / "garbage.bin"))


def test_storescu_sends_every_file_in_its_own_syntax(corpus_small: Corpus, tmp_path: Path) -> None:
    require("DCMTK", dcmtk_available(), "storescu/storescp not installed (apt-get install dcmtk)")
    with StoreSCP(tmp_path / "received") as scp:
        result = storescu([corpus_small.root], scp.host, scp.port, scp.ae_title)
        received = scp.received_files()
    assert len(received) == len(corpus_small), result.stderr + scp.log_tail()
    by_uid = {i.sop_instance_uid: i for i in corpus_small}
    for path in received:
        meta = dcmread(path, stop_before_pixels=True)
        assert meta.file_meta.TransferSyntaxUID == by_uid[meta.SOPInstanceUID].transfer_syntax_uid


def test_orthanc_counts_what_storescu_stores_and_survives_a_restart(
    orthanc: Orthanc, corpus_small: Corpus
) -> None:
    require("DCMTK", dcmtk_available(), "storescu not installed (apt-get install dcmtk)")
    refused = storescu(corpus_small.paths[:3], orthanc.host, orthanc.dicom_port, "NOT-ORTHANC")
    assert refused.returncode in (0, 1)
    assert orthanc.count_instances() == 0

    storescu(corpus_small.paths, orthanc.host, orthanc.dicom_port, orthanc.ae_title)
    assert orthanc.count_instances() == len(corpus_small)

    orthanc.stop()
    assert not orthanc.running
    orthanc.start()
    assert orthanc.instance_uids() == corpus_small.sop_instance_uids
    some = corpus_small.instances[0]
    assert orthanc.instance_tags(some.sop_instance_uid)["SOPInstanceUID"] == some.sop_instance_uid
    if orthanc.plugin is not None:
        studies = orthanc.get("/dicom-web/studies")
        assert len(studies) == len(corpus_small.study_instance_uids)


def test_require_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    require("present", True, "never raised")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        require("thing", False, "not installed")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="thing unavailable: not installed"):
        require("thing", False, "not installed")
