"""The spool-sweep drill (issue 15, item 3): N instances to ONE slow worker, with a spool sweep that
runs every second and calls a file stale after two, so nearly every queued instance is "stale" while
it waits behind the backlog. Before the sweep checked for queued tasks and worker claims it
republished them, and a republished copy that met its original was routed twice at once.

Distributed set-up (RabbitMQ, a fresh PostgreSQL database, Redis), one worker process with
concurrency 1, the destination is DCMTK storescp writing each C-STORE to a file of its own
(``+uf``), so a second delivery is a second file. Run from the repository root::

    .venv/bin/python -m bench.sweep_drill            # 5,000 instances
    .venv/bin/python -m bench.sweep_drill --count 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

from pydicom import dcmread

from tests.factories import StudySpec, write_corpus
from tests.integration.stack import (
    REDIS_URL,
    AxiomStack,
    fresh_postgres_database,
    fresh_rabbitmq_vhost,
    wait_for,
)
from tests.support.dcmtk import StoreSCP, storescu


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep_drill", description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="axiom-sweep-drill-"))
    series = [100] * (args.count // 100) + ([args.count % 100] if args.count % 100 else [])
    corpus = write_corpus(root / "corpus", studies=(StudySpec("CT", tuple(series)),), large_every=0)
    print(f"{len(corpus)} instances in {root}")
    with (
        fresh_rabbitmq_vhost() as broker_url,
        fresh_postgres_database() as db_url,
        StoreSCP(root / "pacs", extra_args=["+uf"]) as pacs,
    ):
        env = {
            "AXIOM_DATABASE_URL": db_url,
            "AXIOM_BROKER_URL": broker_url,
            "AXIOM_RESULT_BACKEND": REDIS_URL,
            "AXIOM_SPOOL_RECOVER_AFTER_SECONDS": "2",
            "AXIOM_SPOOL_SWEEP_SECONDS": "1",
        }
        stack = AxiomStack(root / "axiom", env)
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
                    "rulesets": [{"name": "all", "rules": [{"name": "all", "destinations": ["pacs"]}]}],
                }
            )
            stack.start("listen", "beat")
            stack.start("worker", args={"worker": ["worker", "--concurrency", "1"]})
            t0 = time.monotonic()
            storescu(corpus.paths, "127.0.0.1", stack.dicom_port, "AXIOM")
            print(f"sent in {time.monotonic() - t0:.0f} s; the worker drains the backlog ...")
            wait_for(
                lambda: len(list(pacs.output_dir.glob("*.dcm"))) >= len(corpus),
                3600,
                "every delivery",
                interval=2,
            )
            wait_for(
                lambda: not list((stack.data_dir / "spool").glob("*.dcm")), 300, "an empty spool", interval=1
            )
            time.sleep(10)  # a late duplicate would arrive now
            elapsed = time.monotonic() - t0
            uids = Counter(
                str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in pacs.output_dir.glob("*.dcm")
            )
            logs = (stack.logs / "worker.log").read_text(errors="replace")
            deferred = logs.count("spool sweep deferred")
            republished = logs.count("republished stale spooled instance")
        finally:
            stack.stop_all()
    duplicates = sum(n - 1 for n in uids.values())
    missing = len(corpus.sop_instance_uids - set(uids))
    print(
        f"instances {len(corpus)}, deliveries {sum(uids.values())}, duplicates {duplicates}, missing {missing}; "
        f"sweeps deferred {deferred}, files republished {republished}; {elapsed:.0f} s"
    )
    return 0 if duplicates == 0 and missing == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
