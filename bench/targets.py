"""The receivers under test: DCMTK storescp, Orthanc, and Axiom embedded and distributed.

Each ``run_*`` starts its receiver in a fresh folder, sends one warm-up instance (so start-up and
first-import costs stay out of the figures), then the whole corpus with ONE storescu association,
counts at the receiver, stops everything it started and returns a ``Result``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.procs import BenchError, Processes, child_roles, listening, tree_cpu_seconds, wait_until
from bench.sender import send
from tests.support.dcmtk import (
    LOOPBACK,
    StoreSCP,
    free_port,
)
from tests.support.orthanc import Orthanc
from tests.support.postgres import fresh_postgres_database

# ``--anonymize``: the rule also anonymizes (Basic Profile); instances arrive under new UIDs, so the
# destination is counted by its files that are not temporary, less those there before the send.
ANONYMIZE = False
QUEUES = ("high", "default", "low", "retry")
DESTINATION = "bench-archive"
TEMPLATE = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"


@dataclass(frozen=True)
class BenchCorpus:
    name: str  # "small" or "ct"
    label: str  # human description
    folder: Path  # the corpus, sent as one folder
    count: int
    size_bytes: int
    warmup: Path  # one more instance of the same kind, in its own folder
    profile: Path  # storescu association profile covering both
    uids: frozenset[str]  # SOP Instance UIDs of the corpus
    warmup_uids: frozenset[str]

    @property
    def mean_kib(self) -> float:
        return self.size_bytes / self.count / 1024


@dataclass
class Result:
    corpus: str
    target: str
    n: int
    received: int = 0
    send_s: float | None = None  # storescu wall time: the acknowledged rate's denominator
    e2e_s: float | None = None  # send start -> last file in the filesystem destination
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    # CPU seconds per role (process and descendants) from the send's start to the last arrival.
    cpu_s: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.error is None and self.received == self.n

    @property
    def ack_rate(self) -> float | None:
        return self.n / self.send_s if self.send_s and self.complete else None

    @property
    def e2e_rate(self) -> float | None:
        return self.n / self.e2e_s if self.e2e_s and self.complete else None

    def cpu_ms_per_instance(self) -> dict[str, float]:
        return {role: 1000 * seconds / self.n for role, seconds in self.cpu_s.items() if self.n}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            complete=self.complete,
            ack_rate=self.ack_rate,
            e2e_rate=self.e2e_rate,
            cpu_ms_per_instance=self.cpu_ms_per_instance(),
        )
        return data


# --- baselines ------------------------------------------------------------------------------------


def run_storescp(corpus: BenchCorpus, workdir: Path, *, timeout: float) -> Result:
    result = Result(corpus.name, "storescp", corpus.count)
    with StoreSCP(workdir / "received", ae_title="STORESCP") as scp:
        send([corpus.warmup], corpus.profile, scp.port, scp.ae_title, timeout=timeout, senders=1)
        wait_until(lambda: len(scp.received_files()) >= 1, 30, "storescp to write the warm-up instance")
        assert scp.process is not None
        roots = {"storescp": scp.process.pid}
        cpu_before = tree_cpu_seconds(roots)
        sent = send([corpus.folder], corpus.profile, scp.port, scp.ae_title, timeout=timeout)
        result.send_s = sent.seconds
        result.cpu_s = _cpu_delta(cpu_before, tree_cpu_seconds(roots))
        # storescp writes each file before it answers: the count is final once storescu is done.
        result.received = len(scp.received_files()) - 1
    return result


def run_orthanc(corpus: BenchCorpus, workdir: Path, *, timeout: float) -> Result:
    result = Result(corpus.name, "orthanc", corpus.count)
    with Orthanc(workdir / "orthanc", dicomweb=False) as orthanc:
        send(
            [corpus.warmup], corpus.profile, orthanc.dicom_port, orthanc.ae_title, timeout=timeout, senders=1
        )
        orthanc.wait_for_instances(1, timeout=30)
        assert orthanc.process is not None
        roots = {"orthanc": orthanc.process.pid}
        cpu_before = tree_cpu_seconds(roots)
        sent = send([corpus.folder], corpus.profile, orthanc.dicom_port, orthanc.ae_title, timeout=timeout)
        result.send_s = sent.seconds
        result.cpu_s = _cpu_delta(cpu_before, tree_cpu_seconds(roots))
        # Orthanc answers a C-STORE after indexing it: the count is final once storescu is done.
        result.received = orthanc.wait_for_instances(corpus.count + 1, timeout=30) - 1
    return result


# --- Axiom ----------------------------------------------------------------------------------------


def _all_files(root: Path) -> list[os.DirEntry[str]]:
    """Every finished ``.dcm`` file under ``root`` (atomic writes' temporary names left out)."""
    found: list[os.DirEntry[str]] = []
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.endswith(".dcm") and not entry.name.startswith("."):
                found.append(entry)
    return found


def destination_files(root: Path, uids: frozenset[str]) -> list[os.DirEntry[str]]:
    """Finished files under the destination root named ``<SOP Instance UID>.dcm`` for one of ``uids``.

    Filtering by UID keeps atomic writes' temporary files out, and instances that are not ours: on
    a shared RabbitMQ another set-up's tasks can reach this worker (see ``Result.notes``).
    """
    return [entry for entry in _all_files(root) if entry.name[:-4] in uids]


class AxiomRun:
    """Axiom's roles for one benchmark target, configured with one filesystem destination."""

    def __init__(self, workdir: Path, extra_env: Mapping[str, str]) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.data_dir = workdir / "axiom-data"
        self.archive = workdir / "archive"
        self.dicom_port = free_port()
        self.api_port = free_port()
        env = {
            **os.environ,
            "AXIOM_DATA_DIR": str(self.data_dir),
            "AXIOM_DICOM_HOST": LOOPBACK,
            "AXIOM_DICOM_PORT": str(self.dicom_port),
            "AXIOM_API_HOST": LOOPBACK,
            "AXIOM_API_PORT": str(self.api_port),
            "AXIOM_APPLY_EXAMPLE_ON_FIRST_START": "false",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        self.procs = Processes(workdir / "logs", env)
        self.sent_uids: set[str] = set()

    def apply_config(self) -> None:
        config = {
            "destinations": [
                {
                    "name": DESTINATION,
                    "type": "filesystem",
                    "root": str(self.archive),
                    "path_template": TEMPLATE,
                }
            ],
            "rulesets": [{"name": "bench", "rules": [{"name": "everything", "destinations": [DESTINATION]}]}],
        }
        if ANONYMIZE:
            config["rulesets"][0]["rules"][0]["actions"] = [{"anonymize": {"profile": "basic"}}]
        path = self.data_dir.parent / "bench-config.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        done = self.procs.run_axiom("apply", "-f", str(path))
        if done.returncode != 0:
            raise BenchError(f"axiom apply failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self, *roles: str) -> None:
        for role in roles:
            self.procs.axiom(role)
        wait_until(lambda: listening(self.dicom_port), 90, "the Axiom listener", check=self.procs.check_alive)

    def role_pids(self) -> dict[str, int]:
        """Each running role's process (``axiom up``'s children stand for themselves)."""
        pids: dict[str, int] = {}
        for group in self.procs.groups:
            pids.update(child_roles(group.pid) if group.name == "up" else {group.name: group.pid})
        return pids

    def warm_up(self, corpus: BenchCorpus, *, timeout: float) -> None:
        """One instance through the whole path: the worker is up and every module is imported."""
        self.sent_uids |= corpus.warmup_uids
        send([corpus.warmup], corpus.profile, self.dicom_port, "AXIOM", timeout=timeout, senders=1)
        wait_until(
            lambda: (
                _all_files(self.archive) if ANONYMIZE else destination_files(self.archive, corpus.warmup_uids)
            ),
            120,
            "the warm-up instance in the destination",
            interval=0.1,
            check=self.procs.check_alive,
        )

    def measure(self, corpus: BenchCorpus, result: Result, *, timeout: float, stall: float) -> None:
        self.sent_uids |= corpus.uids
        before = _all_files(self.archive) if ANONYMIZE else []

        def arrived() -> list[os.DirEntry[str]]:
            if not ANONYMIZE:
                return destination_files(self.archive, corpus.uids)
            known = {entry.path for entry in before}
            return [entry for entry in _all_files(self.archive) if entry.path not in known]

        roots = self.role_pids()
        cpu_before = tree_cpu_seconds(roots)
        sent = send([corpus.folder], corpus.profile, self.dicom_port, "AXIOM", timeout=timeout)
        result.send_s = sent.seconds
        last_count, last_change = -1, time.monotonic()
        deadline = time.monotonic() + timeout
        while True:
            count = len(arrived())
            now = time.monotonic()
            if count != last_count:
                last_count, last_change = count, now
            if count >= corpus.count:
                break
            if now - last_change > stall or now > deadline:
                result.error = f"incomplete: {count} of {corpus.count} in the destination"
                break
            self.procs.check_alive()
            time.sleep(0.2)
        result.cpu_s = _cpu_delta(cpu_before, tree_cpu_seconds(roots))
        files = arrived()
        result.received = len(files)
        if files:
            # The rename that publishes a file sets its ctime: the newest one is when the last arrived.
            result.e2e_s = max(entry.stat().st_ctime for entry in files) - sent.started_at
        foreign = sum(1 for p in self.archive.rglob("*.dcm") if p.name[:-4] not in self.sent_uids)
        if foreign > 0 and not ANONYMIZE:
            result.notes.append(
                f"{foreign} instance(s) that were not sent by this run reached the destination"
            )

    def stop(self) -> None:
        self.procs.stop_all()


def _cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: round(after[role] - before.get(role, 0.0), 3) for role in after}


def run_axiom_embedded(
    corpus: BenchCorpus,
    workdir: Path,
    *,
    extra_env: Mapping[str, str],
    timeout: float,
    stall: float,
    observe: Callable[[AxiomRun], None] | None = None,
) -> Result:
    """``axiom up`` through one measured send; ``observe`` looks at the roles before they stop."""
    result = Result(corpus.name, "axiom-embedded", corpus.count)
    run = AxiomRun(workdir, extra_env)
    try:
        run.apply_config()
        run.start("up")
        run.warm_up(corpus, timeout=timeout)
        run.measure(corpus, result, timeout=timeout, stall=stall)
        if observe is not None:
            observe(run)
    except BenchError:
        print(run.procs.log_tails(), flush=True)
        raise
    finally:
        run.stop()
    return result


def fresh_database(admin_url: str) -> AbstractContextManager[str]:
    """A new PostgreSQL database for one run, dropped afterwards."""
    return fresh_postgres_database(admin_url, prefix="axiom_bench")


def purge_queues(broker_url: str) -> list[str]:
    """Empty Axiom's queues; return warnings about consumers that are not ours (shared broker)."""
    from amqp.exceptions import NotFound
    from kombu import Connection

    warnings = []
    with Connection(broker_url) as conn:
        channel = conn.channel()
        for queue in QUEUES:
            try:
                _, messages, consumers = channel.queue_declare(queue, passive=True)
            except NotFound:
                channel = conn.channel()  # a failed passive declare closes the channel
                continue
            if consumers:
                warnings.append(
                    f"queue {queue!r} already has {consumers} consumer(s): another worker may take tasks"
                )
            if messages:
                channel.queue_purge(queue)
    return warnings


def run_axiom_distributed(
    corpus: BenchCorpus,
    workdir: Path,
    *,
    extra_env: Mapping[str, str],
    admin_db_url: str,
    broker_url: str,
    result_backend: str,
    timeout: float,
    stall: float,
) -> Result:
    result = Result(corpus.name, "axiom-distributed", corpus.count)
    with fresh_database(admin_db_url) as db_url:
        result.notes += purge_queues(broker_url)
        env = {
            "AXIOM_DATABASE_URL": db_url,
            "AXIOM_BROKER_URL": broker_url,
            "AXIOM_RESULT_BACKEND": result_backend,
            **extra_env,
        }
        run = AxiomRun(workdir, env)
        try:
            run.apply_config()
            run.start("listen", "worker", "beat")
            run.warm_up(corpus, timeout=timeout)
            run.measure(corpus, result, timeout=timeout, stall=stall)
        except BenchError:
            print(run.procs.log_tails(), flush=True)
            raise
        finally:
            run.stop()
            purge_queues(broker_url)
    return result
