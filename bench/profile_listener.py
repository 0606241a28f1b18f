"""``--profile``: where one Axiom role spends its time while the small corpus goes through.

Starts ``axiom up`` (embedded), warms it up, attaches py-spy to the listener (or the worker and its
pool processes) and records wall-clock samples (``--idle``: waiting on fsync, the broker or the
network counts too) while the corpus is sent in one association. Then prints:

* samples by thread (pynetdicom runs each association in an ``AcceptorThread`` plus a DUL reactor),
* for the threads doing the work (those that ran the C-STORE handler, or the Celery task), the
  functions holding the most wall time, inclusive of what they call,
* the source lines where samples landed (self time), across every thread.

py-spy samples Python frames only: time in C (a ``time.sleep``, ``os.fsync``, a socket call) is
charged to the Python line that made the call, which is what the line table shows.
"""

from __future__ import annotations

import argparse
import linecache
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.procs import REPO_ROOT, BenchError, tree_cpu_seconds
from bench.targets import AxiomRun, BenchCorpus, Result

# A frame in the raw output: "function (path/to/file.py:line)".
_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*):(?P<line>\d+)\)$")
# Frames that wrap every sample of a thread: not informative as hotspots.
_BOOTSTRAP = ("Thread._bootstrap", "Thread._bootstrap_inner", "Thread.run", "<module>", "_run_code")
FOCUS = {"listen": "StoreHandler.__call__", "worker": "process_batch"}
RATE = 200  # samples per second


@dataclass
class Samples:
    total: int = 0
    by_thread: Counter[str] = field(default_factory=Counter)
    # thread -> stacks (frames root first, thread frame removed) with their counts
    stacks: dict[str, list[tuple[list[str], int]]] = field(default_factory=lambda: defaultdict(list))


def thread_label(key: str) -> str:
    """'process 1:"...";process 2:"...";thread (2): AcceptorThread@2026...' -> 'pid 2 AcceptorThread'."""
    frames = key.split(";")
    name = frames[-1].split(": ", 1)[-1]
    name = re.sub(r"@\d+$", "", name)
    name = re.sub(r"^Thread-\d+ ", "", name)
    process = re.match(r"process (\d+):", frames[-2]) if len(frames) > 1 else None
    return (f"pid {process[1]} " if process else "") + name[:60]


def parse_raw(path: Path) -> Samples:
    """py-spy's ``--format raw`` (collapsed stacks): ``frame;frame;... count`` per line."""
    samples = Samples()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        # With --threads the first frame names the thread (after a process frame with --subprocesses).
        split = next((i for i, f in enumerate(frames) if f.startswith("thread (")), -1)
        thread = ";".join(frames[: split + 1]) if split >= 0 else "all"
        n = int(count)
        samples.total += n
        samples.by_thread[thread] += n
        samples.stacks[thread].append((frames[split + 1 :], n))
    return samples


def _function(frame: str) -> str:
    match = _FRAME.match(frame)
    return f"{match['func']} ({match['file']})" if match else frame


def _is_bootstrap(frame: str) -> bool:
    return frame.split(" (", 1)[0] in _BOOTSTRAP


def hotspots(
    samples: Samples, focus: str, top: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    """(inclusive functions in the focus threads, self lines everywhere, samples of the focus threads)."""
    focus_threads = [
        t for t, stacks in samples.stacks.items() if any(focus in f for s, _ in stacks for f in s)
    ]
    inclusive: Counter[str] = Counter()
    focus_total = 0
    for thread in focus_threads:
        for frames, n in samples.stacks[thread]:
            focus_total += n
            for function in {_function(f) for f in frames if not _is_bootstrap(f)}:
                inclusive[function] += n
    # Frames under which every sample of those threads sits (the thread's or process's outer loop)
    # say nothing about where the time goes.
    inclusive = Counter({f: n for f, n in inclusive.items() if n < focus_total})
    lines: Counter[str] = Counter()
    for stacks in samples.stacks.values():
        for frames, n in stacks:
            if frames:
                lines[frames[-1]] += n
    return inclusive.most_common(top), lines.most_common(top), focus_total


def source_line(frame: str) -> str:
    """The text of a frame's line, looked up in the repository and on sys.path ('' if not found)."""
    match = _FRAME.match(frame)
    if not match:
        return ""
    for base in (REPO_ROOT, *map(Path, sys.path)):
        path = base / match["file"]
        if path.is_file():
            return linecache.getline(str(path), int(match["line"])).strip()
    return ""


def _percent_table(
    title: str, rows: list[tuple[str, int]], total: int, count: int, what: str, *, with_source: bool = False
) -> Table:
    table = Table(title=title)
    table.add_column("share", justify="right")
    table.add_column("ms / instance", justify="right")
    table.add_column(what)
    if with_source:
        table.add_column("line")
    for name, n in rows:
        cells = [f"{100 * n / max(total, 1):.1f}%", f"{1000 * n / RATE / count:.2f}", name]
        table.add_row(*cells, *([source_line(name)] if with_source else []))
    return table


def report(samples: Samples, role: str, top: int, count: int, console: Console) -> None:
    threads = Table(title=f"Wall-clock samples of the {role} process, by thread")
    threads.add_column("share", justify="right")
    threads.add_column("samples", justify="right")
    threads.add_column("thread")
    for thread, n in samples.by_thread.most_common(top):
        threads.add_row(f"{100 * n / samples.total:.1f}%", str(n), thread_label(thread))
    console.print(threads)
    inclusive, lines, focus_total = hotspots(samples, FOCUS[role], top)
    console.print(
        _percent_table(
            f"Functions by inclusive wall time, in the threads that ran {FOCUS[role]} "
            f"(100% = {focus_total} samples of those threads)",
            inclusive,
            focus_total,
            count,
            "function (file)",
        )
    )
    console.print(
        _percent_table(
            f"Lines where the samples landed (self time), all threads (100% = {samples.total} samples)",
            lines,
            samples.total,
            count,
            "function (file:line)",
            with_source=True,
        )
    )


def run_profile(args: argparse.Namespace, root: Path, corpus: BenchCorpus, console: Console) -> int:
    py_spy = args.py_spy or shutil.which("py-spy")
    if not py_spy:
        console.print("[red]py-spy not found[/]: install it (pip install py-spy) or pass --py-spy PATH")
        return 2
    role = args.profile_role
    run = AxiomRun(root / "profile", args.extra_env)
    raw = root / "py-spy.raw"
    spy: subprocess.Popen[bytes] | None = None
    result = Result(corpus.name, f"axiom-embedded ({role} under py-spy)", corpus.count)
    try:
        run.apply_config()
        run.start("up")
        run.warm_up(corpus, timeout=args.timeout)
        pid = run.role_pids()[role]
        argv = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--output", str(raw)]
        # Both roles fork: the worker its pool, the listener one process per CPU (SO_REUSEPORT).
        argv += ["--rate", str(RATE), "--threads", "--subprocesses"]
        argv += [] if args.cpu_only else ["--idle"]
        with (root / "py-spy.log").open("wb") as log:
            spy = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        time.sleep(1.0)
        if spy.poll() is not None:
            raise BenchError(
                f"py-spy exited with {spy.returncode}: {(root / 'py-spy.log').read_text()[-800:]}"
            )
        cpu_before = tree_cpu_seconds({role: pid})
        run.measure(corpus, result, timeout=args.timeout, stall=args.stall)
        cpu = tree_cpu_seconds({role: pid})[role] - cpu_before[role]
        spy.send_signal(signal.SIGINT)
        spy.wait(60)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
            spy.wait(10)
        run.stop()
    if not raw.exists():
        raise BenchError(f"py-spy wrote no samples: {(root / 'py-spy.log').read_text()[-800:]}")
    console.print(
        f"{result.received}/{corpus.count} {corpus.name} instances under the profiler: send {result.send_s:.2f} s, "
        f"end-to-end {result.e2e_s or 0:.2f} s; the {role} used {cpu:.2f} s CPU "
        f"({1000 * cpu / corpus.count:.2f} ms per instance). Profiling slows the role down."
    )
    report(parse_raw(raw), role, args.top, corpus.count, console)
    if args.keep:
        console.print(f"raw samples: {raw} (flamegraph.pl or speedscope can read them)")
    return 0 if result.complete else 1
