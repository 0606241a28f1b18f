"""C-STORE delivery rate: Axiom's SCU with association reuse, one association per instance, and
DCMTK storescu sending the same files to the same Orthanc.

Run from the repository root::

    .venv/bin/python -m bench.cstore_delivery               # 300 small (64x64) instances, 3 rounds
    .venv/bin/python -m bench.cstore_delivery --count 1000 --repeat 5

Each round starts from an empty Orthanc (its REST API deletes what the previous round stored) and
times three senders over the same files, in rotating order: ``reuse`` (one CStoreDestination, the
object a worker keeps: one association for the whole run), ``per-instance`` (a new destination,
hence a new association, for every instance, as routers without reuse do) and ``storescu`` (one
DCMTK call, one association: the baseline). A round counts only when Orthanc holds all N
instances afterwards. Prints the median instances/s of each and the ratios to storescu.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydicom import dcmread

from axiom.config import Settings
from axiom.destinations.cstore import CStoreDestination, CStoreDestinationConfig
from axiom.domain.instances import OutgoingInstance
from tests.factories import StudySpec, write_corpus
from tests.support.dcmtk import storescu
from tests.support.orthanc import Orthanc


def _outgoing(paths: list[Path]) -> list[OutgoingInstance]:
    instances = []
    for path in paths:
        ds = dcmread(path)
        instances.append(
            OutgoingInstance(
                dataset=ds,
                source_file=path,
                sop_instance_uid=str(ds.SOPInstanceUID),
                study_instance_uid=str(ds.StudyInstanceUID),
            )
        )
    return instances


def _config(orthanc: Orthanc) -> CStoreDestinationConfig:
    return CStoreDestinationConfig(
        name="orthanc", host="127.0.0.1", port=orthanc.dicom_port, ae_title="ORTHANC"
    )


def _reuse(orthanc: Orthanc, settings: Settings, instances: list[OutgoingInstance]) -> None:
    destination = CStoreDestination(_config(orthanc), settings)
    try:
        for instance in instances:
            destination.send(instance)
    finally:
        destination.close()


def _per_instance(orthanc: Orthanc, settings: Settings, instances: list[OutgoingInstance]) -> None:
    for instance in instances:
        destination = CStoreDestination(_config(orthanc), settings)
        try:
            destination.send(instance)
        finally:
            destination.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=300, help="instances (64x64 CT, Explicit VR LE)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; medians are reported")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="axiom-bench-cstore-") as tmp:
        work = Path(tmp)
        corpus = write_corpus(
            work / "corpus",
            studies=(StudySpec("CT", (args.count,)),),
            transfer_syntaxes=["1.2.840.10008.1.2.1"],
            large_every=0,
        )
        instances = _outgoing(corpus.paths)
        settings = Settings(data_dir=work / "data")
        rates: dict[str, list[float]] = {"reuse": [], "per-instance": [], "storescu": []}
        with Orthanc(work / "orthanc", dicomweb=False) as orthanc:
            senders: dict[str, Callable[[], None]] = {
                "reuse": lambda: _reuse(orthanc, settings, instances),
                "per-instance": lambda: _per_instance(orthanc, settings, instances),
                "storescu": lambda: storescu(corpus.paths, "127.0.0.1", orthanc.dicom_port, "ORTHANC"),
            }
            names = list(senders)
            for round_no in range(args.repeat):
                for name in names[round_no % 3 :] + names[: round_no % 3]:
                    for study in orthanc.get("/studies"):
                        orthanc.delete(f"/studies/{study}")
                    started = time.perf_counter()
                    senders[name]()
                    elapsed = time.perf_counter() - started
                    stored = orthanc.count_instances()
                    if stored == len(instances):
                        rates[name].append(len(instances) / elapsed)
                    print(
                        f"round {round_no + 1} {name:<13} {len(instances) / elapsed:8.1f} inst/s  stored {stored}"
                    )

    medians = {name: statistics.median(values) for name, values in rates.items() if values}
    base = medians.get("storescu")
    print(f"\n{args.count} instances of 64x64 CT to Orthanc, medians of {args.repeat} rounds:")
    for name, rate in medians.items():
        ratio = f"{rate / base:.2f}x storescu" if base else ""
        print(f"  {name:<13} {rate:8.1f} inst/s  {ratio}")
    if "reuse" in medians and "per-instance" in medians:
        print(f"  reuse / per-instance: {medians['reuse'] / medians['per-instance']:.2f}x")


if __name__ == "__main__":
    main()
