"""Faults during a real send, each ending with every instance delivered exactly once: PostgreSQL
restarted while workers process, RabbitMQ stopped and started while storescu sends. Both servers
are private to the test (tests/support/private_services.py), so the shared ones are never touched.

The destination is DCMTK's storescp writing every C-STORE to a file of its own (``+uf``): a second
delivery of an instance is a second file, so a duplicate cannot hide behind an overwritten path."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread

from tests.factories import Corpus, StudySpec, write_corpus
from tests.integration.stack import (
    REDIS_URL,
    AxiomStack,
    fresh_postgres_database,
    fresh_rabbitmq_vhost,
    wait_for,
)
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.private_services import private_postgres, private_rabbitmq

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return write_corpus(
        tmp_path_factory.mktemp("fault-corpus"),
        studies=(StudySpec("CT", (150, 150)), StudySpec("MR", (100,))),
        transfer_syntaxes=["1.2.840.10008.1.2.1"],
        large_every=0,
    )


def _count(received: Path) -> int:
    return len(list(received.glob("*.dcm"))) if received.exists() else 0


def _uids(received: Path) -> list[str]:
    """The SOP Instance UID of every file storescp wrote, one per delivery (duplicates kept)."""
    return [str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in sorted(received.glob("*.dcm"))]


@contextmanager
def _sending(
    tmp_path: Path, corpus: Corpus, env: dict[str, str]
) -> Iterator[tuple[AxiomStack, Path, threading.Thread]]:
    """listen, worker and beat on ``env``, one rule to a filesystem archive, and storescu sending the
    corpus in the background once something has arrived; the roles are stopped afterwards."""
    stack = AxiomStack(tmp_path / "axiom", {**env, "AXIOM_RESULT_BACKEND": REDIS_URL})
    pacs = StoreSCP(tmp_path / "pacs", extra_args=["+uf"]).start()
    received = pacs.output_dir
    try:
        stack.apply(
            {
                "destinations": [
                    {
                        "name": "pacs",
                        "type": "cstore",
                        "host": "127.0.0.1",
                        "port": pacs.port,
                        "ae_title": pacs.ae_title,
                    }
                ],
                "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["pacs"]}]}],
            }
        )
        stack.start("listen", "worker", "beat")
        sender = threading.Thread(
            target=storescu, args=(corpus.paths, "127.0.0.1", stack.dicom_port, "AXIOM")
        )
        sender.start()
        yield stack, received, sender
        sender.join(180)
        try:
            wait_for(lambda: _count(received) >= len(corpus), 180, "every instance delivered")
            wait_for(
                lambda: (
                    stack.query("SELECT count(*) FROM dicom_instances WHERE status = 'delivered'")[0][0]
                    == len(corpus)
                ),
                60,
                "every instance recorded",
            )
        except AssertionError:
            print(stack.log_tail())
            raise
        time.sleep(2)  # a late duplicate would arrive now
        delivered = _uids(received)
        assert set(delivered) == corpus.sop_instance_uids
        duplicates = len(delivered) - len(set(delivered))
        print(f"deliveries: {len(delivered)} for {len(corpus)} instances, duplicates: {duplicates}")
        assert duplicates == 0
        # One ledger row per instance and destination, each delivered: nothing was sent twice.
        counts = stack.query(
            "SELECT count(*), count(DISTINCT sop_instance_uid) FROM deliveries WHERE status = 'delivered'"
        )[0]
        assert tuple(counts) == (len(corpus), len(corpus))
        assert list((stack.data_dir / "spool").glob("*.dcm")) == []
    finally:
        stack.stop_all()
        pacs.stop()


def test_postgres_restart_while_workers_process(tmp_path: Path, corpus: Corpus) -> None:
    with (
        private_postgres() as pg,
        fresh_rabbitmq_vhost() as broker_url,
        # The restart cuts every worker's connection, possibly while a batch is on the wire to the
        # PACS: what was sent is recorded through the restart (axiom/db/retry.py), so no copy repeats.
        _sending(tmp_path, corpus, {"AXIOM_DATABASE_URL": pg.url, "AXIOM_BROKER_URL": broker_url}) as (
            _,
            archive,
            _,
        ),
    ):
        wait_for(lambda: _count(archive) >= 20, 60, "the first deliveries")
        pg.restart()  # every worker's connection is cut mid-run
        print(f"delivered before the restart finished: {_count(archive)} of {len(corpus)}")


def test_rabbitmq_stopped_and_started_during_a_send(tmp_path: Path, corpus: Corpus) -> None:
    with (
        private_rabbitmq() as rabbit,
        fresh_postgres_database() as db_url,
        # A broker stop cuts the worker's connection while a batch may be on the wire to the PACS:
        # the redelivered task finds its sends in the ledger, so no copy repeats.
        _sending(tmp_path, corpus, {"AXIOM_DATABASE_URL": db_url, "AXIOM_BROKER_URL": rabbit.url}) as (
            stack,
            archive,
            sender,
        ),
    ):
        wait_for(lambda: _count(archive) >= 1, 60, "the first delivery")
        rabbit.stop_app()
        print(f"broker stopped with {_count(archive)} delivered, sender running: {sender.is_alive()}")
        time.sleep(2)
        rabbit.start_app()
        sender.join(180)
        # What the listener could not hand to the broker it refused (0xA7xx) and did not keep;
        # the modality sends those again, as modalities do after a failed C-STORE.
        wait_for(lambda: not list((stack.data_dir / "spool").glob("*.dcm")), 120, "the spool to drain")
        # A delivery that failed is retried from its own copy: only what is neither spooled nor
        # waiting for a retry was refused.
        wait_for(
            lambda: stack.query("SELECT count(*) FROM exception_logs WHERE status = 'open'")[0][0] == 0,
            120,
            "open delivery retries",
        )
        by_uid = {info.sop_instance_uid: info.path for info in corpus}
        missing = [by_uid[uid] for uid in corpus.sop_instance_uids - set(_uids(archive))]
        print(f"refused while the broker was down, sent again: {len(missing)}")
        if missing:
            storescu(missing, "127.0.0.1", stack.dicom_port, "AXIOM")
