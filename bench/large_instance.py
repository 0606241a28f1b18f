"""Large instances: the listener's memory and the send time, streamed into spool slots or gathered in memory.

```sh
.venv/bin/python -m bench.large_instance --mib 256 --count 3
```

Sends ``--count`` instances of ``--mib`` MiB each (one 16-bit CT image of that size, Explicit VR
LE) with one ``storescu`` association to DCMTK's ``storescp`` (the baseline: writes each file and
answers) and to Axiom embedded twice: as configured (a data set past ``spool_stream_after_bytes``
goes into a spool slot as it arrives) and with ``AXIOM_SPOOL_STREAM_AFTER_BYTES=0`` (gathered in
memory, as before). Prints the send time, its ratio to storescp's, and the listener's peak resident
memory (``VmHWM`` of the listen processes).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
from pathlib import Path

from pydicom import dcmread
from rich.console import Console
from rich.table import Table

from bench.procs import sigterm_as_keyboard_interrupt
from bench.sender import write_profile
from bench.targets import BenchCorpus, Result, run_axiom_embedded, run_storescp
from tests.factories import make_dataset, write_instance

VARIANTS = {"axiom, streamed": {}, "axiom, in memory": {"AXIOM_SPOOL_STREAM_AFTER_BYTES": "0"}}


def make_corpus(root: Path, count: int, mib: int) -> BenchCorpus:
    side = int(math.sqrt(mib * (1 << 20) / 2))
    folder, warmup = root / "files", root / "warmup"
    paths = [
        write_instance(make_dataset(rows=side, columns=side, variant=n), folder / f"{n}.dcm")
        for n in range(count)
    ]
    warm = write_instance(make_dataset(), warmup / "warm.dcm")
    profile = write_profile([*paths, warm], root / "storescu.cfg")
    uids = frozenset(str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in paths)
    warm_uid = frozenset({str(dcmread(warm, stop_before_pixels=True).SOPInstanceUID)})
    size = sum(p.stat().st_size for p in paths)
    return BenchCorpus("large", f"{side}x{side} 16-bit", folder, count, size, warmup, profile, uids, warm_uid)


def peak_rss_mib(pid: int) -> float:
    """The largest ``VmHWM`` among ``pid`` and its descendants, in MiB."""
    peak, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        todo += [int(c) for c in children]
    return peak / 1024


def run_axiom(
    corpus: BenchCorpus, workdir: Path, env: dict[str, str], timeout: float
) -> tuple[Result, float]:
    peaks: list[float] = []
    result = run_axiom_embedded(
        corpus,
        workdir,
        extra_env=env,
        timeout=timeout,
        stall=120,
        observe=lambda run: peaks.append(peak_rss_mib(run.role_pids()["listen"])),
    )
    return result, peaks[0] if peaks else 0.0


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.large_instance", description=__doc__.split("\n")[0])
    p.add_argument("--mib", type=int, default=256, help="size of each instance")
    p.add_argument("--count", type=int, default=3, help="instances sent in one association")
    p.add_argument("--timeout", type=float, default=900)
    p.add_argument("--workdir", type=Path)
    args = p.parse_args(argv)
    sigterm_as_keyboard_interrupt()
    console = Console()
    root = Path(tempfile.mkdtemp(prefix="axiom-large-", dir=args.workdir))
    try:
        corpus = make_corpus(root / "corpus", args.count, args.mib)
        console.print(
            f"{args.count} x {corpus.label} ({corpus.mean_kib / 1024:.0f} MiB each); work folder {root}"
        )
        table = Table(title="Large instances, one association")
        for column in ("target", "send s", "MiB/s", "send / storescp", "e2e s", "listener peak RSS MiB"):
            table.add_column(column, justify="right" if column != "target" else "left")
        base = run_storescp(corpus, root / "storescp", timeout=args.timeout)
        mib = corpus.size_bytes / (1 << 20)
        assert base.send_s and base.complete, base
        table.add_row("storescp", f"{base.send_s:.2f}", f"{mib / base.send_s:.0f}", "1.00x", "-", "-")
        for name, env in VARIANTS.items():
            result, peak = run_axiom(
                corpus, root / name.replace(", ", "-").replace(" ", "-"), env, args.timeout
            )
            if not result.complete or not result.send_s:
                table.add_row(name, "-", "-", "-", "-", f"{peak:.0f} ({result.error})")
                continue
            table.add_row(
                name,
                f"{result.send_s:.2f}",
                f"{mib / result.send_s:.0f}",
                f"{result.send_s / base.send_s:.2f}x",
                f"{result.e2e_s:.2f}" if result.e2e_s else "-",
                f"{peak:.0f}",
            )
        console.print(table)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
