"""Prometheus metrics of every role; labels carry destination names and statuses, never PHI.

Several processes (listener, worker children, API) each count their own part. When the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is first imported, prometheus_client
keeps each process's values in files there and the API's ``/metrics`` adds them up
(``registry()``). The roles started by the CLI set it to ``<data_dir>/metrics`` (see
``cli/roles.py``); without it (tests, a single process) the default registry is used.
"""

from __future__ import annotations

import os

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client import multiprocess as _multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

RECEIVED = Counter(
    "axiom_instances_received_total",
    "Instances received, by source (listener, stowrs) and outcome (accepted, refused, error)",
    ["source", "status"],
)
PROCESSED = Counter(
    "axiom_instances_processed_total",
    "Instances routed by a worker, by final status (delivered, partial, failed, no_match, ...)",
    ["status"],
)
DELIVERED = Counter("axiom_deliveries_total", "Instances delivered, by destination", ["destination"])
FAILED = Counter(
    "axiom_delivery_failures_total",
    "Failed deliveries, by destination and whether they will be retried (transient, permanent)",
    ["destination", "status"],
)
SOURCE_POLLS = Counter(
    "axiom_source_polls_total",
    "Polls of configured sources, by source name and outcome (ok, partial, failed)",
    ["source", "status"],
)
SOURCE_INSTANCES = Counter(
    "axiom_source_instances_total",
    "Instances a source poll found new on the peer, retrieved, or failed to retrieve",
    ["source", "outcome"],
)
RULE_SECONDS = Histogram(
    "axiom_rule_evaluation_seconds",
    "Time to evaluate the active rulesets against one instance",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
DELIVERY_SECONDS = Histogram(
    "axiom_delivery_seconds", "Time to send one instance to a destination", ["destination"]
)


def registry() -> CollectorRegistry:
    """The registry ``/metrics`` exposes: every process's files in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        merged = CollectorRegistry()
        _multiprocess.MultiProcessCollector(merged)
        return merged
    return REGISTRY
