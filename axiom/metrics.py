"""Prometheus metrics of every role; labels carry destination names and statuses, never PHI.

Several processes (listener, worker children, API) each count their own part. When the environment
variable ``PROMETHEUS_MULTIPROC_DIR`` is set before this module is first imported, prometheus_client
keeps each process's values in files there and the API's ``/metrics`` adds them up
(``registry()``). The roles started by the CLI set it to ``<data_dir>/metrics/<role>-<hostname>``
(see ``cli/roles.py``): each container's PID 1 has a folder of its own. Without it (tests, a single
process) the default registry is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.metrics_core import Metric

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
DUPLICATES_SKIPPED = Counter(
    "axiom_duplicates_skipped_total",
    "Re-received instances (same SOP Instance UID and content) not sent again, by destination",
    ["destination"],
)
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
# Model calls: image models on the gpu queue, language models, hosted analysis. Labels are model
# names, providers, purposes and outcomes from configuration and code, never from the instance.
MODEL_CALLS = Counter(
    "axiom_model_calls_total",
    "Model calls, by model, provider (execution provider or API), purpose and outcome",
    ["model", "provider", "purpose", "outcome"],
)
MODEL_SECONDS = Histogram(
    "axiom_model_call_seconds",
    "Duration of one model call (an image model's includes waiting for its batch)",
    ["model", "purpose"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
MODEL_PREPROCESS_SECONDS = Histogram(
    "axiom_model_preprocess_seconds",
    "Pixel preprocessing (modality LUT, window, resize) of one instance for an image model",
    ["model"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
MODEL_BATCH_SIZE = Histogram(
    "axiom_model_batch_size",
    "Instances per batched inference of an image model",
    ["model"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)
DISK_FREE_BYTES = Gauge(
    "axiom_disk_free_bytes",
    "Free bytes on the data volume, as ingest last saw it",
    multiprocess_mode="livemin",
)
INGEST_PAUSED = Gauge(
    "axiom_ingest_paused",
    "1 while ingest refuses new instances because free space fell under the low watermark",
    multiprocess_mode="livemax",
)
MODEL_LOADED = Gauge(
    "axiom_model_loaded",
    "1 for each image model a process has loaded, labelled with the execution provider it runs on",
    ["model", "version", "provider"],
    multiprocess_mode="livemax",
)


def observe_model_call(details: Mapping[str, Any], purpose: str = "image_inference") -> None:
    """Count one model call from the details its audit row records."""
    model = str(details.get("model", ""))
    purpose = str(details.get("purpose", purpose))
    MODEL_CALLS.labels(
        model, str(details.get("provider", "")), purpose, str(details.get("outcome", ""))
    ).inc()
    duration_ms = details.get("duration_ms")
    if isinstance(duration_ms, int | float) and duration_ms > 0:
        MODEL_SECONDS.labels(model, purpose).observe(duration_ms / 1000.0)
    preprocess_ms = details.get("preprocess_ms")
    if isinstance(preprocess_ms, int | float) and preprocess_ms > 0:
        MODEL_PREPROCESS_SECONDS.labels(model).observe(preprocess_ms / 1000.0)


class _FolderCollector:
    """Every process's files below the given folders (one level of role folders), merged as
    prometheus_client's MultiProcessCollector merges one folder."""

    def __init__(self, folders: list[Path]) -> None:
        self.folders = folders

    def collect(self) -> Iterable[Metric]:
        files = {str(f) for folder in self.folders for f in (*folder.glob("*.db"), *folder.glob("*/*.db"))}
        return _multiprocess.MultiProcessCollector.merge(sorted(files), accumulate=True)


def registry(root: Path | None = None) -> CollectorRegistry:
    """The registry ``/metrics`` exposes: in multiprocess mode, the files of every process, in this
    process's folder and in every role's folder under ``root`` (``Settings.metrics_path``)."""
    own = os.environ.get(MULTIPROC_ENV)
    if own:
        merged = CollectorRegistry()
        merged.register(_FolderCollector([Path(own), *([root] if root else [])]))
        return merged
    return REGISTRY
