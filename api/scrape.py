"""Gauges read when Prometheus scrapes ``/metrics``: the state an on-call alerts on.

Counters and histograms are counted where the work happens (axiom/metrics.py); these are read from
the source of truth at scrape time instead, so they are right whichever process did the work:

- ``axiom_queue_depth{queue}``: messages waiting, from the broker;
- ``axiom_queue_oldest_message_age_seconds{queue}``: the embedded broker's oldest waiting message
  (RabbitMQ does not say through AMQP; there the spool age below is the alert);
- ``axiom_spool_files`` and ``axiom_spool_oldest_file_age_seconds``: instances received and not yet
  routed (the worker removes a spooled file once every destination is served or holds its own copy);
- ``axiom_destination_exceptions{destination,status}``: exception rows waiting for a retry
  (``open``) or given up (``dead``);
- ``axiom_destination_circuit_state{destination,state}``: 1 for the breaker's state, 0 for the others
  (only where the breaker is shared through Redis; per-process breakers are not knowable here);
- ``axiom_disk_free_bytes``: refreshed from the data volume on each scrape.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.admin import monitoring
from axiom.config import Settings
from axiom.infra.delivery_guard import RedisGuard

CIRCUIT_STATES = ("closed", "open", "half_open")
# Every family this module can yield (tests check alert rules and dashboards against them).
FAMILIES = (
    "axiom_queue_depth",
    "axiom_queue_oldest_message_age_seconds",
    "axiom_spool_files",
    "axiom_spool_oldest_file_age_seconds",
    "axiom_destination_exceptions",
    "axiom_destination_circuit_state",
)


class StateCollector:
    """One scrape's worth of state (built per request: it holds that request's session)."""

    def __init__(self, settings: Settings, session: Session, queues: tuple[str, ...]) -> None:
        self.settings = settings
        self.session = session
        self.queues = queues

    def collect(self) -> Iterator[Metric]:
        yield from self._queues()
        yield from self._spool()
        yield from self._destinations()
        self._disk()

    def _queues(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "axiom_queue_depth", "Messages waiting in each broker queue", labels=["queue"]
        )
        for queue, n in monitoring.queue_depths(self.settings, self.queues).items():
            if n is not None:
                depth.add_metric([queue], n)
        yield depth
        age = GaugeMetricFamily(
            "axiom_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting in each queue (embedded broker only)",
            labels=["queue"],
        )
        if self.settings.embedded_broker:
            for queue, seconds in embedded_oldest(self.settings.broker_dir / "queue", self.queues).items():
                age.add_metric([queue], seconds)
        yield age

    def _spool(self) -> Iterator[Metric]:
        count, oldest = spool_backlog(self.settings.spool_dir)
        yield GaugeMetricFamily("axiom_spool_files", "Received instances not yet routed", value=count)
        yield GaugeMetricFamily(
            "axiom_spool_oldest_file_age_seconds",
            "Age of the oldest received instance not yet routed (0 when none)",
            value=oldest,
        )

    def _destinations(self) -> Iterator[Metric]:
        guard = RedisGuard(self.settings.cache_url) if self.settings.cache_url else None
        try:
            rows = monitoring.destination_health(self.session, guard)
        finally:
            if guard is not None:
                guard.close()
        exceptions = GaugeMetricFamily(
            "axiom_destination_exceptions",
            "Exception rows per destination: open (waiting for a retry) or dead (given up)",
            labels=["destination", "status"],
        )
        circuit = GaugeMetricFamily(
            "axiom_destination_circuit_state",
            "1 for the circuit breaker's current state (closed, open, half_open), 0 for the others",
            labels=["destination", "state"],
        )
        for row in rows:
            exceptions.add_metric([row.name, "open"], row.backlog)
            exceptions.add_metric([row.name, "dead"], row.dead_letters)
            if row.circuit in CIRCUIT_STATES:
                for state in CIRCUIT_STATES:
                    circuit.add_metric([row.name, state], 1 if row.circuit == state else 0)
        yield exceptions
        yield circuit

    def _disk(self) -> None:
        with contextlib.suppress(OSError):
            metrics.DISK_FREE_BYTES.set(shutil.disk_usage(self.settings.data_path).free)


def embedded_oldest(folder: Path, queues: tuple[str, ...]) -> dict[str, float]:
    """Seconds since the oldest waiting message of each queue was published. Message files are named
    ``<monotonic ms>_<uuid>.<queue>.msg`` (workers/fs_transport.py), on this host's clock."""
    now_ms = time.monotonic() * 1000
    oldest: dict[str, float] = {}
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return {}
    for entry in entries:
        if entry.name.startswith(".") or not entry.name.endswith(".msg"):
            continue
        stamp, _, rest = entry.name.partition("_")
        queue = rest.partition(".")[2].removesuffix(".msg")
        if queue in queues and stamp.isdigit():
            oldest[queue] = max(oldest.get(queue, 0.0), (now_ms - int(stamp)) / 1000)
    return {queue: max(0.0, oldest.get(queue, 0.0)) for queue in queues}


def spool_backlog(spool_dir: Path) -> tuple[int, float]:
    """Spooled instances and the age in seconds of the oldest (0 when none)."""
    now = time.time()
    count, oldest = 0, 0.0
    try:
        entries = list(os.scandir(spool_dir))
    except OSError:
        return 0, 0.0
    for entry in entries:
        if not entry.name.endswith(".dcm"):
            continue
        try:
            mtime = entry.stat().st_mtime
        except FileNotFoundError:
            continue  # routed meanwhile
        count += 1
        oldest = max(oldest, now - mtime)
    return count, oldest
