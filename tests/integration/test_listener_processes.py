"""Several listener processes share one DICOM port (SO_REUSEPORT): concurrent associations all land."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.factories import StudySpec, write_corpus
from tests.integration.stack import AxiomStack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration


def test_two_listener_processes_share_the_port(tmp_path: Path) -> None:
    corpus = write_corpus(
        tmp_path / "corpus", studies=(StudySpec("CT", (20,)), StudySpec("MR", (20,))), large_every=0
    )
    stack = AxiomStack(tmp_path / "axiom", {"AXIOM_LISTENER_PROCESSES": "2"})
    archive = stack.data_dir / "archive"
    try:
        stack.apply(
            {
                "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
                "rulesets": [{"name": "all", "rules": [{"name": "all", "destinations": ["archive"]}]}],
            }
        )
        stack.start("up")
        halves = [corpus.paths[0::4], corpus.paths[1::4], corpus.paths[2::4], corpus.paths[3::4]]
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda paths: storescu(paths, "127.0.0.1", stack.dicom_port, "AXIOM"), halves))

        wait_for(lambda: len(list(archive.rglob("*.dcm"))) == len(corpus), 90, "every instance")
        assert {str(dcmread(p).SOPInstanceUID) for p in archive.rglob("*.dcm")} == corpus.sop_instance_uids
        pids = {
            line.split("pid=")[1].split()[0]
            for line in (stack.logs / "axiom.log").read_text().splitlines()  # the roles log there
            if "listener ready" in line
        }
        assert len(pids) == 2
    finally:
        stack.stop_all()
