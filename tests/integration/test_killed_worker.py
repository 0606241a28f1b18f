"""A worker killed with SIGKILL in the middle of its work loses nothing.

Distributed: RabbitMQ gives the unacknowledged tasks (acks_late, reject_on_worker_lost) to the next
worker. Embedded: the filesystem transport forgets a taken message, and the spool sweep republishes
the spooled files no worker finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.factories import Corpus, StudySpec, write_corpus
from tests.integration.stack import AxiomStack, running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration

N = 60


@pytest.fixture(params=["embedded", "distributed"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AxiomStack]:
    fast_sweep = {"AXIOM_SPOOL_RECOVER_AFTER_SECONDS": "4", "AXIOM_SPOOL_SWEEP_SECONDS": "1"}
    with running_stack(request.param, tmp_path / "axiom", fast_sweep) as s:
        yield s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(
        tmp_path_factory.mktemp("kill-corpus"), studies=(StudySpec("CT", (N,)),), large_every=0
    )


def test_killed_worker_loses_nothing(stack: AxiomStack, corpus: Corpus) -> None:
    archive = stack.data_dir / "archive"
    stack.apply(
        {
            "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
            "rulesets": [{"name": "all", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        }
    )
    stack.start("listen", "beat")
    storescu(corpus.paths, "127.0.0.1", stack.dicom_port, "AXIOM")
    assert len(list((stack.data_dir / "spool").glob("*.dcm"))) == N  # all acknowledged, none routed yet

    def delivered() -> int:
        return len(list(archive.rglob("*.dcm"))) if archive.exists() else 0

    stack.start("worker")
    wait_for(lambda: delivered() >= 1, 60, "the worker to start delivering", interval=0.01)
    stack.kill("worker")
    in_flight = N - delivered()
    assert in_flight > 0, "the worker finished everything before it was killed; the test proved nothing"

    stack.start("worker")
    try:
        wait_for(lambda: delivered() == N, 90, "every instance after the restart")
        wait_for(lambda: not list((stack.data_dir / "spool").glob("*.dcm")), 30, "an empty spool")
    except AssertionError:
        print(stack.log_tail())
        raise
    assert {str(dcmread(p).SOPInstanceUID) for p in archive.rglob("*.dcm")} == corpus.sop_instance_uids
