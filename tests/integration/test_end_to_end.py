"""The whole data path over real sockets: DCMTK storescu -> Axiom -> filesystem and a real Orthanc.

Runs twice: embedded (``axiom up``: SQLite + kombu filesystem transport) and distributed
(PostgreSQL + RabbitMQ + Redis, listener/worker/beat/api as separate processes).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pynetdicom import AE, _config
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from tests.factories import Corpus, write_corpus
from tests.integration.stack import AxiomStack, running_stack, wait_for
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc

pytestmark = pytest.mark.integration

ROUTED_INSTITUTION = "AXIOM-ROUTED"


def routing_config(archive: Path, orthanc_port: int) -> dict[str, Any]:
    return {
        "destinations": [
            {
                "name": "archive",
                "type": "filesystem",
                "root": str(archive),
                "path_template": "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm",
            },
            {
                "name": "pacs",
                "type": "cstore",
                "host": "127.0.0.1",
                "port": orthanc_port,
                "ae_title": "ORTHANC",
            },
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "everything",
                        "actions": [
                            {"set": {"tag": "InstitutionName", "value": ROUTED_INSTITUTION}},
                            {"delete": {"tag": "ReferringPhysicianName"}},
                        ],
                        "destinations": ["archive", "pacs"],
                    },
                    {
                        "name": "cross-sectional",
                        "when": {"tag": "Modality", "regex": "^(CT|MR)$"},
                        "actions": [{"set": {"tag": "StationName", "value": "XSECT"}}],
                    },
                ],
            }
        ],
    }


@pytest.fixture(params=["embedded", "distributed"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AxiomStack]:
    with running_stack(request.param, tmp_path / "axiom") as s:
        # Embedded: one command runs every role; distributed: one process per role.
        s.up_roles = ("up",) if request.param == "embedded" else ("listen", "worker", "beat", "api")  # type: ignore[attr-defined]
        yield s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    from tests.factories import StudySpec

    studies = (StudySpec("CT", (6, 4)), StudySpec("MR", (5,)), StudySpec("CR", (3,)), StudySpec("US", (2, 2)))
    return write_corpus(tmp_path_factory.mktemp("e2e-corpus"), studies=studies, large_every=3)


def _archive_files(archive: Path) -> list[Path]:
    return sorted(archive.rglob("*.dcm")) if archive.exists() else []


def test_storescu_to_filesystem_and_orthanc(stack: AxiomStack, orthanc: Orthanc, corpus: Corpus) -> None:
    archive = stack.data_dir / "archive"
    stack.apply(routing_config(archive, orthanc.dicom_port))
    stack.start(*stack.up_roles)  # type: ignore[attr-defined]

    storescu(corpus.paths, "127.0.0.1", stack.dicom_port, "AXIOM")

    try:
        wait_for(lambda: len(_archive_files(archive)) >= len(corpus), 120, "every instance in the archive")
        wait_for(lambda: orthanc.count_instances() >= len(corpus), 60, "every instance in Orthanc")
    except AssertionError:
        print(stack.log_tail())
        raise

    by_uid = {info.sop_instance_uid: info for info in corpus}
    files = _archive_files(archive)
    assert len(files) == len(corpus)
    for path in files:
        ds = dcmread(path)
        info = by_uid[str(ds.SOPInstanceUID)]
        assert path.relative_to(archive).parts[:2] == (info.study_instance_uid, info.series_instance_uid)
        assert ds.InstitutionName == ROUTED_INSTITUTION
        assert "ReferringPhysicianName" not in ds
        if info.modality in ("CT", "MR"):
            assert ds.StationName == "XSECT"
        # Sent as received: the transfer syntax survives the route.
        assert str(ds.file_meta.TransferSyntaxUID) == info.transfer_syntax_uid
        assert ds.PatientID == info.patient_id

    assert orthanc.instance_uids() == corpus.sop_instance_uids
    tags = orthanc.instance_tags(next(iter(corpus.sop_instance_uids)))
    assert tags["InstitutionName"] == ROUTED_INSTITUTION

    delivered = wait_for(
        lambda: (
            stack.query("SELECT count(*) FROM dicom_instances WHERE status = 'delivered'")[0][0]
            == len(corpus)
        ),
        30,
        "every instance row marked delivered",
    )
    assert delivered
    listing = stack.api(f"/api/v1/monitoring/instances?limit={len(corpus)}")
    assert {row["sop_instance_uid"] for row in listing["instances"]} == corpus.sop_instance_uids
    assert listing["counts"].get("delivered") == len(corpus)
    for row in listing["instances"]:
        modality = next(i.modality for i in corpus if i.sop_instance_uid == row["sop_instance_uid"])
        expected = (
            ["main/everything", "main/cross-sectional"] if modality in ("CT", "MR") else ["main/everything"]
        )
        assert row["matched_rules"] == expected
        assert row["destinations"] == ["archive", "pacs"]
        assert row["status"] == "delivered"
    assert stack.query("SELECT count(*) FROM exception_logs")[0][0] == 0
    # Nothing left in the spool once every destination has its copy.
    assert list((stack.data_dir / "spool").glob("*.dcm")) == []


def test_orthanc_down_then_retry_delivers_everything(
    stack: AxiomStack, orthanc: Orthanc, corpus: Corpus
) -> None:
    archive = stack.data_dir / "archive"
    config = routing_config(archive, orthanc.dicom_port)
    # Eight failures open the PACS's circuit; a short cool-down keeps the wait for the retries short.
    config["destinations"][1]["circuit_breaker"] = {"cooldown_seconds": 3}
    stack.apply(config)
    orthanc.stop()
    stack.start(*stack.up_roles)  # type: ignore[attr-defined]
    sample = corpus.paths[:8]

    storescu(sample, "127.0.0.1", stack.dicom_port, "AXIOM")

    try:
        wait_for(
            lambda: (
                stack.query(
                    "SELECT count(*) FROM exception_logs WHERE destination = 'pacs' AND stage = 'deliver'"
                )[0][0]
                == len(sample)
            ),
            90,
            "one exception row per instance for the stopped PACS",
        )
    except AssertionError:
        print(stack.log_tail())
        raise
    # The filesystem destination was unaffected, and each failure holds its own copy.
    assert len(_archive_files(archive)) == len(sample)
    copies = [Path(row[0]) for row in stack.query("SELECT file_path FROM exception_logs")]
    assert all(path.exists() for path in copies)
    # The exception rows commit in the deliver stage; the batch lets go of the spooled files a
    # moment later, in its settle stage.
    wait_for(lambda: list((stack.data_dir / "spool").glob("*.dcm")) == [], 30, "the spool to drain")

    orthanc.start()
    try:
        wait_for(lambda: orthanc.count_instances() == len(sample), 120, "the retries to reach Orthanc")
        wait_for(
            lambda: (
                stack.query("SELECT count(*) FROM exception_logs WHERE status = 'resolved'")[0][0]
                == len(sample)
            ),
            30,
            "every exception row resolved",
        )
    except AssertionError:
        print(stack.log_tail())
        raise
    assert all(not path.exists() for path in copies)


def _send_raw(port: int, file_meta_source: Path, body: bytes, folder: Path) -> int:
    """Send ``body`` as the dataset of a C-STORE, undecoded, with pynetdicom's chunked sending."""
    meta = read_file_meta_info(file_meta_source)
    payload = folder / "raw.dcm"
    buffer = BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta)  # type: ignore[arg-type]
    payload.write_bytes(buffer.getvalue() + body)
    ae = AE(ae_title="BADSCU")
    ae.add_requested_context(str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID))
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="AXIOM")
    assert assoc.is_established
    old = _config.STORE_SEND_CHUNKED_DATASET
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        status = assoc.send_c_store(payload)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = old
        assoc.release()
    return int(status.Status)


@pytest.mark.parametrize("stack", ["embedded"], indirect=True)
def test_bad_input_is_refused_quarantined_and_recorded(
    stack: AxiomStack, corpus: Corpus, tmp_path: Path
) -> None:
    archive = stack.data_dir / "archive"
    config = routing_config(archive, 1)
    config["destinations"] = config["destinations"][:1]
    config["rulesets"][0]["rules"][0]["destinations"] = ["archive"]
    stack.apply(config)
    stack.start(*stack.up_roles)  # type: ignore[attr-defined]
    good = next(info for info in corpus if info.transfer_syntax_uid == "1.2.840.10008.1.2.1")
    dataset_bytes = _dataset_bytes(good.path)

    truncated = _send_raw(stack.dicom_port, good.path, dataset_bytes[: len(dataset_bytes) // 2], tmp_path)
    garbage = _send_raw(stack.dicom_port, good.path, os.urandom(3000), tmp_path)

    assert truncated & 0xF000 in (0xA000, 0xC000), hex(truncated)
    assert garbage & 0xF000 in (0xA000, 0xC000), hex(garbage)
    quarantined = list((stack.data_dir / "quarantine").glob("*.dcm"))
    assert len(quarantined) == 2
    rows = stack.query("SELECT stage, error_class, file_path, message FROM exception_logs ORDER BY id")
    assert [(row[0], row[1]) for row in rows] == [("ingest", "InvalidDataset")] * 2
    assert {Path(row[2]) for row in rows} == set(quarantined)
    assert all(good.patient_id not in row[3] for row in rows)

    # The listener keeps serving: a valid instance still goes through.
    storescu([good.path], "127.0.0.1", stack.dicom_port, "AXIOM")
    wait_for(lambda: len(_archive_files(archive)) == 1, 60, "the valid instance after the bad ones")


def _dataset_bytes(path: Path) -> bytes:
    """The encoded dataset of a file, after its File Meta Information."""
    data = path.read_bytes()
    meta = read_file_meta_info(path)
    group_length = int(meta.FileMetaInformationGroupLength)
    return data[132 + 12 + group_length :]
