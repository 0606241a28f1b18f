"""The micro-batcher: up to B per batch, at most T ms of waiting, errors reach every caller."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from axiom.ai.base import Finding
from axiom.ai.batching import MicroBatcher
from axiom.ai.registry import ModelRegistry


def test_concurrent_submissions_run_as_batches_of_at_most_b(models_dir: Path) -> None:
    model = ModelRegistry(models_dir).get("chest")
    batcher: MicroBatcher[Finding] = MicroBatcher(model.findings, max_batch=8, max_wait_ms=200)
    rng = np.random.default_rng(0)
    inputs = [rng.random((1, 64, 64), dtype=np.float32) for _ in range(20)]
    # A bright image reads "pneumonia", a dark one "normal": results go back to their own caller.
    inputs[3][:] = 1.0
    inputs[4][:] = 0.0
    futures = [batcher.submit(x) for x in inputs]
    findings = [f.result(timeout=30) for f in futures]
    assert sum(batcher.batch_sizes) == 20
    assert max(batcher.batch_sizes) == 8 and len(batcher.batch_sizes) <= 4
    assert findings[3].label == "pneumonia" and findings[4].label == "normal"
    alone = model.findings(np.stack(inputs[5:6]))[0]
    assert findings[5].scores == pytest.approx(alone.scores, abs=1e-6)


def test_a_lone_instance_waits_at_most_t_ms() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(lambda batch: [len(batch)] * len(batch), max_wait_ms=50)
    started = time.monotonic()
    assert batcher.submit(np.zeros(3)).result(timeout=5) == 1
    assert time.monotonic() - started < 1.0
    assert batcher.batch_sizes == [1]


def test_threads_submitting_together_share_a_batch() -> None:
    batcher: MicroBatcher[int] = MicroBatcher(
        lambda batch: [len(batch)] * len(batch), max_batch=4, max_wait_ms=500
    )
    results: list[int] = []
    barrier = threading.Barrier(4)

    def task() -> None:
        barrier.wait()
        results.append(batcher.submit(np.zeros(2)).result(timeout=5))

    threads = [threading.Thread(target=task) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [4, 4, 4, 4]


def test_a_failing_batch_fails_each_caller_and_the_batcher_keeps_going() -> None:
    calls = []

    def run(batch: np.ndarray) -> list[int]:
        calls.append(len(batch))
        if len(calls) == 1:
            raise RuntimeError("device lost")
        return [0] * len(batch)

    batcher: MicroBatcher[int] = MicroBatcher(run, max_wait_ms=1)
    with pytest.raises(RuntimeError, match="device lost"):
        batcher.submit(np.zeros(1)).result(timeout=5)
    assert batcher.submit(np.zeros(1)).result(timeout=5) == 0
