"""Anonymization throughput: Axiom's Basic Profile next to dicognito, on one synthetic corpus.

Run from the repository root::

    .venv/bin/pip install -e ".[bench]"          # dicognito, optional: without it only Axiom runs
    .venv/bin/python -m bench.anonymize          # 300 instances, 3 rounds
    .venv/bin/python -m bench.anonymize --instances 1000 --size 512 --rounds 5

The corpus is written by tests/factories.py (CT, MR, CR, DX; patients and studies of their own; 64x64
or --size pixels) plus a few identifying attributes in sequences and a private block, and encoded
once. Each round parses every instance again (not timed), then times de-identifying them all:

* ``axiom``: ``rules.anonymize.run.anonymize`` with ``profile: basic`` (which copies the dataset,
  as the worker's morph step does, and leaves the parsed one as it was);
* ``dicognito``: ``Anonymizer(seed=...).anonymize(dataset)`` (in place).

A second figure adds reading and writing the file (``read+anonymize+write``), which is what a worker
pays per instance. Prints medians over the rounds, in instances per second.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

from pydicom import Dataset, dcmread, dcmwrite
from pydicom.sequence import Sequence

from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.run import anonymize
from tests.factories import FakePatient, make_dataset

MODALITIES = ("CT", "MR", "CR", "DX")
SECRET = "bench-secret"


def corpus(count: int, size: int) -> list[bytes]:
    encoded = []
    for index in range(count):
        patient = FakePatient(
            name=f"PATIENT^{index % 50:03d}",
            patient_id=f"MRN{index % 50:05d}",
            birth_date="19600101",
            sex="F",
        )
        ds = make_dataset(
            modality=MODALITIES[index % len(MODALITIES)],
            rows=size,
            columns=size,
            patient=patient,
            instance_number=index + 1,
        )
        other = Dataset()
        other.PatientID = f"OTHER{index:05d}"
        ds.OtherPatientIDsSequence = Sequence([other])
        ref = Dataset()
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ref.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.7.{index}"
        ds.ReferencedImageSequence = Sequence([ref])
        ds.OperatorsName = "OPERATOR^ONE"
        ds.private_block(0x0009, "BENCH 1.0", create=True).add_new(0x01, "LO", "private value")
        buffer = io.BytesIO()
        dcmwrite(buffer, ds, enforce_file_format=True)
        encoded.append(buffer.getvalue())
    return encoded


def _axiom() -> Callable[[Dataset], Dataset]:
    spec = AnonymizeSpec(profile="basic")
    return lambda ds: anonymize(ds, spec, SECRET).dataset


def _dicognito() -> Callable[[Dataset], Dataset] | None:
    try:
        from dicognito.anonymizer import Anonymizer
    except ImportError:
        return None
    anonymizer = Anonymizer(seed=SECRET)

    def run(ds: Dataset) -> Dataset:
        anonymizer.anonymize(ds)
        return ds

    return run


def _round(files: list[bytes], tool: Callable[[Dataset], Dataset], with_io: bool) -> float:
    """Instances per second for one pass over the corpus."""
    if with_io:
        start = time.perf_counter()
        for data in files:
            out = tool(dcmread(io.BytesIO(data)))
            dcmwrite(io.BytesIO(), out, enforce_file_format=True)
        return len(files) / (time.perf_counter() - start)
    parsed = [dcmread(io.BytesIO(data)) for data in files]
    for ds in parsed:  # decode the raw elements as a worker's rule evaluation would have
        _ = ds.PatientID
    start = time.perf_counter()
    for ds in parsed:
        tool(ds)
    return len(files) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--size", type=int, default=64, help="rows and columns of each image")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    files = corpus(args.instances, args.size)
    tools: dict[str, Callable[[Dataset], Dataset]] = {"axiom basic": _axiom()}
    other = _dicognito()
    if other is not None:
        tools["dicognito"] = other
    else:
        print("dicognito is not installed (pip install -e '.[bench]'): Axiom only")
    print(f"{len(files)} instances, {args.size}x{args.size}, median of {args.rounds} rounds")
    print(f"{'tool':<14} {'anonymize/s':>12} {'read+anonymize+write/s':>24}")
    for name, tool in tools.items():
        _round(files[:20], tool, False)  # warm-up
        bare = statistics.median(_round(files, tool, False) for _ in range(args.rounds))
        full = statistics.median(_round(files, tool, True) for _ in range(args.rounds))
        print(f"{name:<14} {bare:>12,.0f} {full:>24,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
