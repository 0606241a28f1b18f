"""Run the models an ``infer`` rule action asked for on one instance, store and audit each result.

Called by the gpu worker (workers/tasks/inference.py) or, with no gpu queue wired (tests, tools),
inline by route_instance. Each instance is preprocessed on the calling thread (timed on its own) and
handed to its model's micro-batcher, which runs one batched inference for every instance waiting.
Every model call leaves an audit row: model and version, instance UID, provider, duration, outcome.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import structlog
from pydicom import Dataset
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.ai.base import Finding
from axiom.ai.batching import MicroBatcher
from axiom.ai.preprocess import PreprocessError, preprocess
from axiom.ai.registry import ModelRegistry, UnknownModel
from axiom.db.repositories import inference as inference_repo
from axiom.db.repositories.audit import add_audit
from rules.model import InferenceResult, InferSpec

log = structlog.get_logger("axiom.inference")

AUDIT_ACTOR = "ai"
AUDIT_ACTION = "model_call"


@dataclass(frozen=True)
class ModelCall:
    """One model run on one instance, as stored and audited."""

    model: str
    version: str
    provider: str
    outcome: str  # ok, skipped, unknown_model, preprocess_error, error
    result: InferenceResult
    preprocess_ms: float
    duration_ms: float
    # How many instances the batched inference that included this one held (0: no inference ran).
    batch_size: int = 0


class InferenceEngine:
    """The models of one process and one micro-batcher per loaded model."""

    def __init__(self, registry: ModelRegistry, *, max_batch: int = 8, max_wait_ms: float = 20.0) -> None:
        self.registry = registry
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._batchers: dict[tuple[str, str], MicroBatcher[tuple[Finding, int]]] = {}
        self._lock = threading.Lock()

    def batcher(self, name: str, version: str) -> MicroBatcher[tuple[Finding, int]]:
        """The model's batcher; each result carries the size of the batch it was computed in."""
        key = (name, version)
        with self._lock:
            batcher = self._batchers.get(key)
            if batcher is None:
                model = self.registry.get(name, version)

                def run(batch: np.ndarray) -> list[tuple[Finding, int]]:
                    metrics.MODEL_BATCH_SIZE.labels(name).observe(len(batch))
                    return [(finding, len(batch)) for finding in model.findings(batch)]

                batcher = self._batchers[key] = MicroBatcher(
                    run, max_batch=self.max_batch, max_wait_ms=self.max_wait_ms, name=name
                )
            return batcher

    def providers(self) -> dict[str, str]:
        return self.registry.providers()

    def run(self, dataset: Dataset, sop_class_uid: str, spec: InferSpec) -> ModelCall:
        started = time.perf_counter()
        try:
            name, version = self.registry.resolve(spec.model, spec.version)
        except UnknownModel:
            return _failed(spec.model, spec.version or "", "", "unknown_model", started)
        model = self.registry.get(name, version)
        manifest = model.manifest
        if not manifest.accepts(str(dataset.get("Modality", "")), sop_class_uid):
            skipped = InferenceResult(status="skipped", version=version)
            return ModelCall(name, version, model.provider, "skipped", skipped, 0.0, _ms(started))
        prepared = time.perf_counter()
        try:
            tensor = preprocess(dataset, manifest)
        except PreprocessError:
            return _failed(name, version, model.provider, "preprocess_error", started)
        preprocess_ms = _ms(prepared)
        future: Future[tuple[Finding, int]] = self.batcher(name, version).submit(tensor)
        try:
            finding, batch_size = future.result(timeout=300)
        except Exception as exc:
            log.error("model call failed", model=name, version=version, error=type(exc).__name__)
            return _failed(name, version, model.provider, "error", started)
        result = InferenceResult(status="ok", version=version, label=finding.label, scores=finding.scores)
        return ModelCall(name, version, model.provider, "ok", result, preprocess_ms, _ms(started), batch_size)


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _failed(name: str, version: str, provider: str, outcome: str, started: float) -> ModelCall:
    return ModelCall(
        name, version, provider, outcome, InferenceResult(status="failed", version=version), 0.0, _ms(started)
    )


def infer_instance(
    engine: InferenceEngine,
    session: Session,
    dataset: Dataset,
    *,
    sop_instance_uid: str,
    sop_class_uid: str,
    content_hash: str,
    specs: Sequence[InferSpec],
) -> dict[str, InferenceResult]:
    """Run each model, store its result and an audit row in ``session`` (the caller commits)."""
    results: dict[str, InferenceResult] = {}
    for spec in specs:
        call = engine.run(dataset, sop_class_uid, spec)
        results[spec.model] = call.result
        inference_repo.save_result(
            session,
            sop_instance_uid=sop_instance_uid,
            content_hash=content_hash,
            model=spec.model,
            model_version=call.version,
            status=call.result.status,
            label=call.result.label,
            scores=call.result.scores,
            provider=call.provider,
            duration_ms=call.duration_ms,
        )
        details = {
            "model": call.model,
            "version": call.version,
            "provider": call.provider,
            "outcome": call.outcome,
            "duration_ms": round(call.duration_ms, 3),
            "preprocess_ms": round(call.preprocess_ms, 3),
            "batch_size": call.batch_size,
        }
        add_audit(session, actor=AUDIT_ACTOR, action=AUDIT_ACTION, target=sop_instance_uid, details=details)
        metrics.observe_model_call(details)
    return results


def stored_results(session: Session, sop_instance_uid: str, content_hash: str) -> dict[str, InferenceResult]:
    """The results stored for this content, as the rule context takes them."""
    return {
        row.model: InferenceResult.model_validate(
            {"status": row.status, "version": row.model_version, "label": row.label, "scores": row.scores}
        )
        for row in inference_repo.results_for(session, sop_instance_uid, content_hash)
    }
