"""Micro-batching: collect up to ``max_batch`` inputs or wait at most ``max_wait_ms``, then run once.

Callers (the gpu worker's task threads) ``submit`` one preprocessed input and block on the future;
one background thread per model runs the batches, so the model sees batches while each task still
handles one instance. One process per GPU holds the model once (``axiom worker --queues gpu``).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

import numpy as np

R = TypeVar("R")


class MicroBatcher(Generic[R]):
    def __init__(
        self,
        run_batch: Callable[[np.ndarray], list[R]],
        *,
        max_batch: int = 8,
        max_wait_ms: float = 20.0,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.run_batch = run_batch
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000.0
        self._queue: queue.Queue[tuple[np.ndarray, Future[R]]] = queue.Queue()
        # Sizes of the batches run so far (for tests and metrics).
        self.batch_sizes: list[int] = []
        self._thread = threading.Thread(target=self._loop, name=f"axiom-{name}", daemon=True)
        self._thread.start()

    def submit(self, item: np.ndarray) -> Future[R]:
        future: Future[R] = Future()
        self._queue.put((item, future))
        return future

    def _collect(self) -> list[tuple[np.ndarray, Future[R]]]:
        items = [self._queue.get()]
        deadline = time.monotonic() + self.max_wait
        while len(items) < self.max_batch:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                items.append(self._queue.get(timeout=left))
            except queue.Empty:
                break
        return items

    def _loop(self) -> None:
        while True:
            items = self._collect()
            self.batch_sizes.append(len(items))
            try:
                results = self.run_batch(np.stack([item for item, _ in items]))
                if len(results) != len(items):
                    raise RuntimeError(f"batch of {len(items)} gave {len(results)} results")
            except Exception as exc:
                for _, future in items:
                    future.set_exception(exc)
                continue
            for (_, future), result in zip(items, results, strict=True):
                future.set_result(result)
