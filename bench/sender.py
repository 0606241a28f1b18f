"""storescu runs for the benchmarks: one association, or ``SENDERS`` at once, each with its share."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError
from tests.support.dcmtk import LOOPBACK, STORESCU, dcmtk_env, storescu_profile

CALLING_AE = "AXIOMBENCH"


@dataclass(frozen=True)
class Sent:
    started_at: float  # time.time() just before storescu started (comparable with file ctimes)
    seconds: float  # storescu wall time (perf_counter)
    returncode: int
    output: str


# Concurrent storescu associations for the whole-corpus sends (``--senders``); 1: one association.
SENDERS = 1


def _storescu_args(profile: Path, port: int, called_ae: str, paths: Sequence[Path]) -> list[str]:
    args = [STORESCU, "-aet", CALLING_AE, "-aec", called_ae, "-xf", str(profile), "Axiom", "-nh"]
    if any(p.is_dir() for p in paths):
        args += ["+sd", "+r"]
    return [*args, LOOPBACK, str(port), *map(str, paths)]


def _split(paths: Sequence[Path], parts: int) -> list[list[Path]]:
    """The files under ``paths`` in ``parts`` contiguous runs (a series stays with one sender)."""
    files = sorted(f for p in paths for f in ([p] if p.is_file() else p.rglob("*.dcm")))
    size = -(-len(files) // parts)
    return [files[i : i + size] for i in range(0, len(files), size)]


def send(
    paths: Sequence[Path],
    profile: Path,
    port: int,
    called_ae: str,
    *,
    timeout: float,
    senders: int | None = None,
) -> Sent:
    """storescu over ``paths``: one association, or ``senders`` (default ``SENDERS``) storescu
    processes at once, each with its share of the files; wall time until the last one is done."""
    senders = SENDERS if senders is None else senders
    shares = [list(paths)] if senders <= 1 else _split(paths, senders)
    started_at = time.time()
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(
            _storescu_args(profile, port, called_ae, share),
            env=dcmtk_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for share in shares
    ]
    outputs, codes = [], []
    for proc in procs:
        out, _ = proc.communicate(timeout=timeout)
        outputs.append(out or "")
        codes.append(proc.returncode)
    seconds = time.perf_counter() - t0
    output = "".join(outputs)[-2000:]
    if any(codes):
        raise BenchError(f"storescu exited with {codes}:\n{output}")
    return Sent(started_at, seconds, 0, output)


def write_profile(files: Sequence[Path], target: Path) -> Path:
    target.write_text(storescu_profile(files))
    return target
