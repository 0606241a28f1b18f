"""``axiom up``: every role as a child process of one group, on the embedded defaults.

The terminal shows the banner, then one line per study received and delivered and every failure
(cli/up_report.py); the roles' output and every log record go to ``<data dir>/logs/axiom.log``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.config import Settings
from axiom.db.repositories import config as config_repo
from axiom.db.repositories.peers import load_peer_configs
from axiom.db.session import create_db_engine, make_session_factory
from cli.roles import METRICS_ENV, prepare

ROLES = ("listen", "worker", "beat", "api")
EXAMPLE = Path(__file__).resolve().parent.parent / "rules" / "examples" / "default.yaml"

console = Console(stderr=True)


def apply_example_if_unconfigured(settings: Settings) -> bool:
    engine = create_db_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            if not config_repo.is_unconfigured(session):
                return False
            apply_config(session, load_config_file(EXAMPLE), actor="axiom-up")
            session.commit()
            return True
    finally:
        engine.dispose()


def known_peer_count(settings: Settings) -> int:
    engine = create_db_engine(settings.effective_database_url)
    try:
        with make_session_factory(engine)() as session:
            return len(load_peer_configs(session, enabled_only=True))
    finally:
        engine.dispose()


def role_commands(settings: Settings) -> dict[str, list[str]]:
    """``axiom <args>`` per child; a gpu worker joins when the models folder holds a model.

    On SQLite (the embedded default), unless ``worker_concurrency`` asks otherwise, the data path has
    one worker process while it keeps up, the database's one writer (SQLite takes one write
    transaction at a time; pool processes recording batches side by side queue on its lock), grown by
    Celery's autoscaler to one per CPU while batches wait (anonymization or AI make routing
    CPU-bound: one fixed process fell 25% behind the acknowledged rate, docs/performance.md).
    Retries and the periodic and polling tasks get a process of their own, so a poll or a retry to a
    slow peer never holds up what arrives.
    """
    commands = {role: [role] for role in ROLES}
    if settings.worker_concurrency == 0 and settings.effective_database_url.startswith("sqlite"):
        most = max(os.cpu_count() or 1, 1)
        commands["worker"] = ["worker", "--queues", "high,default", "--autoscale", f"{most},1"]
        commands["background-worker"] = ["worker", "--queues", "low,retry", "--concurrency", "1"]
    if any(settings.ai_models_path.glob("*/*/manifest.yaml")):
        commands["gpu-worker"] = ["worker", "--queues", "gpu"]
    return commands


def log_file(settings: Settings) -> Path:
    return settings.data_path / "logs" / "axiom.log"


def run_up(settings: Settings) -> int:
    from axiom.infra.events import subscribe
    from cli.up_report import StudyReport

    log_path = log_file(settings)
    prepare(settings, "up", log_file=log_path)
    # Prometheus values of an earlier run's processes (axiom/metrics.py): this run counts afresh. The
    # roles are children of this process, so they count in its folder (their PIDs differ).
    for stale in [*Path(os.environ[METRICS_ENV]).glob("*.db"), *settings.metrics_path.glob("*.db")]:
        stale.unlink(missing_ok=True)
    if settings.apply_example_on_first_start and apply_example_if_unconfigured(settings):
        console.print(
            f"[bold]No configuration yet:[/] applied {EXAMPLE.name} — everything received goes to "
            f"{settings.destinations_root / 'local-archive'}"
        )
    env = {**os.environ, "AXIOM_DATA_DIR": str(settings.data_path)}
    events = subscribe(settings)  # from now on: what the roles are about to do
    # Appending (O_APPEND): whole lines of the roles and of this process never interleave.
    output = log_path.open("ab")
    children = {
        role: subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            env=env,
            start_new_session=False,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        for role, args in role_commands(settings).items()
    }
    console.print(f"DICOM listener  {settings.ae_title}@{settings.dicom_host}:{settings.dicom_port}")
    scheme = "https" if settings.api_tls_cert else "http"
    console.print(
        f"Web console     {scheme}://{settings.api_host}:{settings.api_port}/  (sign in as a user: "
        "axiom users create-superuser, docs/console.md)"
    )
    console.print(
        f"HTTP API        {scheme}://{settings.api_host}:{settings.api_port}/api/v1  (/health; the rest needs a "
        "credential: axiom users create-api-key, docs/api.md)"
    )
    console.print(f"Data            {settings.data_path}")
    console.print(f"Log             {log_path}")
    if known_peer_count(settings) == 0:
        console.print(
            "[yellow]Open to any peer:[/] every host that reaches the DICOM port may store. List known "
            "peers under `peers:` and `axiom apply` them (docs/security.md)."
        )
    console.print("Press Ctrl-C to stop.")

    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    engine = create_db_engine(settings.effective_database_url)
    report = StudyReport(engine)
    while not stopping:
        for role, proc in children.items():
            if proc.poll() is not None:
                console.print(
                    f"[red]{role} exited with {proc.returncode}; stopping the others ({log_path})[/]"
                )
                exit_code = proc.returncode or 1
                stopping = True
        report.feed(events.poll(0.2))
        for line in report.flush():
            console.print(
                line, style="red" if line.startswith("FAILED") else None, highlight=False, soft_wrap=True
            )
    for proc in children.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for proc in children.values():
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    events.close()
    engine.dispose()
    output.close()
    console.print("stopped")
    return exit_code
