"""Tables and JSON for the receive benchmark: medians over repetitions, ratios to the baselines."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from bench.procs import REPO_ROOT
from bench.targets import Result


def _median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


@dataclass(frozen=True)
class Summary:
    """Every repetition of one target on one corpus; rates are medians over the complete runs."""

    corpus: str
    target: str
    runs: tuple[Result, ...]

    @property
    def n(self) -> int:
        return self.runs[0].n

    @property
    def complete_runs(self) -> int:
        return sum(r.complete for r in self.runs)

    @property
    def ack_rate(self) -> float | None:
        return _median([r.ack_rate for r in self.runs])

    @property
    def e2e_rate(self) -> float | None:
        return _median([r.e2e_rate for r in self.runs])

    @property
    def is_axiom(self) -> bool:
        return self.target.startswith("axiom")

    def cpu_ms_per_instance(self) -> dict[str, float]:
        roles = dict.fromkeys(role for r in self.runs for role in r.cpu_s)
        medians = {role: _median([r.cpu_ms_per_instance().get(role) for r in self.runs]) for role in roles}
        return {role: value for role, value in medians.items() if value is not None}

    def to_json(self) -> dict[str, Any]:
        return {
            "corpus": self.corpus,
            "target": self.target,
            "n": self.n,
            "runs": len(self.runs),
            "complete_runs": self.complete_runs,
            "ack_rate_median": self.ack_rate,
            "e2e_rate_median": self.e2e_rate if self.is_axiom else None,
            "ack_rates": [r.ack_rate for r in self.runs],
            "e2e_rates": [r.e2e_rate for r in self.runs] if self.is_axiom else None,
            "cpu_ms_per_instance_median": self.cpu_ms_per_instance(),
        }


def summarize(results: Sequence[Result]) -> list[Summary]:
    keys = dict.fromkeys((r.corpus, r.target) for r in results)
    return [Summary(c, t, tuple(r for r in results if (r.corpus, r.target) == (c, t))) for c, t in keys]


def _rate(value: float | None) -> str:
    return f"{value:,.0f}" if value else "-"


def _ratio(value: float | None, base: float | None) -> str:
    return f"{value / base:.2f}x" if value and base else "-"


def rates_table(summaries: Sequence[Summary], senders: int = 1) -> Table:
    repeats = max((len(s.runs) for s in summaries), default=1)
    associations = "one association" if senders == 1 else f"{senders} associations at once"
    title = f"Instances per second, {associations} (higher is better)"
    table = Table(title=title + (f"; median of {repeats} runs" if repeats > 1 else ""))
    for column in ("corpus", "target", "N", "complete runs", "acknowledged/s", "end-to-end/s"):
        table.add_column(column, justify="left" if column in ("corpus", "target") else "right")
    for column in ("ack / Orthanc", "e2e / Orthanc", "ack / storescp", "e2e / storescp"):
        table.add_column(column, justify="right")
    for corpus in dict.fromkeys(s.corpus for s in summaries):
        rows = [s for s in summaries if s.corpus == corpus]
        base = {s.target: s.ack_rate for s in rows if not s.is_axiom}
        for s in rows:
            complete = f"{s.complete_runs}/{len(s.runs)}" + ("" if s.complete_runs == len(s.runs) else " !")
            table.add_row(
                corpus,
                s.target,
                str(s.n),
                complete,
                _rate(s.ack_rate),
                _rate(s.e2e_rate) if s.is_axiom else "-",
                _ratio(s.ack_rate, base.get("orthanc")) if s.is_axiom else "",
                _ratio(s.e2e_rate, base.get("orthanc")) if s.is_axiom else "",
                _ratio(s.ack_rate, base.get("storescp")) if s.target != "storescp" else "",
                _ratio(s.e2e_rate, base.get("storescp")) if s.is_axiom else "",
            )
        table.add_section()
    return table


def cpu_table(summaries: Sequence[Summary]) -> Table:
    table = Table(title="CPU milliseconds per instance, by process and its children, send start to last file")
    for column in ("corpus", "target", "CPU ms / instance"):
        table.add_column(column)
    for s in summaries:
        per = s.cpu_ms_per_instance()
        table.add_row(s.corpus, s.target, "  ".join(f"{role} {ms:.2f}" for role, ms in per.items()) or "-")
    return table


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else ""


def _filesystem(path: Path) -> str:
    best, kind = "", "unknown"
    with open("/proc/mounts") as mounts:
        for line in mounts:
            _, mount_point, fs_type, *_ = line.split()
            if str(path).startswith(mount_point) and len(mount_point) > len(best):
                best, kind = mount_point, fs_type
    return kind


def environment(workdir: Path) -> dict[str, Any]:
    commit = _first_line(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"])
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "storescu": _first_line(["storescu", "--version"]),
        "orthanc": _first_line(["/usr/sbin/Orthanc", "--version"]),
        "git_commit": commit + (" (uncommitted changes)" if dirty else ""),
        "workdir_filesystem": _filesystem(workdir),
    }


def load(values: Sequence[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in values)
