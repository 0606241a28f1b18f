"""The listener's publisher (issue 17): the C-STORE is answered once the instance is fsync'd in the
spool (the spool is the write-ahead log), and a thread publishes what arrived as batch tasks with
publisher confirms. A batch closes when it holds ``max_batch`` messages, when ``max_delay`` seconds
have passed since its first, or when the arrivals pause, whichever comes first: a stream fills big
batches (the worker's cost per instance falls with the batch size), while a lone instance, or the
last of a burst, leaves after the pause.

A pause is at least ``idle`` seconds without an arrival, and at least ``PAUSE_GAPS`` times the
stream's usual gap between arrivals (a moving average of the gaps shorter than ``max_delay``). A
fixed pause alone split a steady stream whose gaps are near it into batches of one or two: one
association sending CT images at 100-250 per second leaves 4-10 ms between arrivals, and a 10 ms
pause rule then doubled the worker's CPU per instance (it pays ~13 ms per batch whatever its size).

A publish that fails is tried again (the messages stay in order); while the broker cannot take them
the backlog grows, and past ``max_pending`` the listener refuses new instances (0xA701) instead of
acknowledging more than it can hand over. What a killed listener had not published is still in the
spool: the listener publishes it on start-up and the spool sweep republishes it (a task's claim on
its spooled file makes a second task for it harmless).
"""

from __future__ import annotations

import threading
import time
from collections import deque

import structlog
from celery import Celery

from axiom.domain.messages import InstanceMessage
from axiom.pipeline.ports import PublishError
from workers.task_names import TASK_PROCESS_BATCH

log = structlog.get_logger("axiom.publish")

# A pause is this many usual gaps between arrivals (and at least ``idle``).
PAUSE_GAPS = 4.0
# Weight of the newest gap in the moving average.
GAP_WEIGHT = 0.2


class BatchingPublisher:
    def __init__(
        self,
        app: Celery,
        *,
        queue: str = "default",
        max_batch: int = 64,
        max_delay: float = 0.05,
        idle: float = 0.01,
        max_pending: int = 10_000,
        retry_seconds: float = 1.0,
    ) -> None:
        self.app = app
        self.queue = queue
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.idle = idle
        self.max_pending = max_pending
        self.retry_seconds = retry_seconds
        self._pending: deque[InstanceMessage] = deque()
        self._last_arrival = 0.0
        self._usual_gap = 0.0  # 0: no stream seen yet
        self._cond = threading.Condition()
        self._stopping = False
        self._broker_down_since: float | None = None
        self._thread = threading.Thread(target=self._run, name="axiom-publisher", daemon=True)
        self._thread.start()

    def publish_instance(self, message: InstanceMessage) -> None:
        """Queue ``message`` for the next batch; refuses (PublishError) when the backlog is full."""
        with self._cond:
            if len(self._pending) >= self.max_pending:
                raise PublishError(f"{len(self._pending)} instances wait for the broker")
            self._pending.append(message)
            now = time.monotonic()
            gap = now - self._last_arrival
            if gap < self.max_delay:  # longer gaps are silences between streams, not their pace
                usual = self._usual_gap
                self._usual_gap = gap if usual == 0.0 else usual + GAP_WEIGHT * (gap - usual)
            self._last_arrival = now
            if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
                self._cond.notify()

    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def close(self, timeout: float = 10.0) -> None:
        """Publish what is queued (for up to ``timeout`` seconds), then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout)

    def _take(self) -> list[InstanceMessage]:
        with self._cond:
            while not self._pending and not self._stopping:
                self._cond.wait()
            if not self._pending:
                return []
            # Let a batch fill until it is full, max_delay after its first message, or a pause in
            # the arrivals (idle 0: no pause rule).
            deadline = time.monotonic() + self.max_delay
            while len(self._pending) < self.max_batch and not self._stopping:
                now = time.monotonic()
                pause = max(self.idle, PAUSE_GAPS * self._usual_gap)
                close_at = min(deadline, self._last_arrival + pause) if self.idle > 0 else deadline
                if close_at <= now:
                    break
                self._cond.wait(close_at - now)
            return [self._pending[i] for i in range(min(self.max_batch, len(self._pending)))]

    def _run(self) -> None:
        while True:
            batch = self._take()
            if not batch:
                return
            try:
                self.app.send_task(
                    TASK_PROCESS_BATCH,
                    args=[[m.to_dict() for m in batch]],
                    queue=self.queue,
                    routing_key=self.queue,
                    retry=True,
                    retry_policy={"max_retries": 3, "interval_start": 0.1, "interval_step": 0.5},
                )
            except Exception as exc:
                if self._broker_down_since is None:
                    self._broker_down_since = time.monotonic()
                    log.warning("batch not confirmed; kept and tried again", error=type(exc).__name__)
                if self._stopping:
                    return  # the spool keeps them; start-up and the sweep publish them
                time.sleep(self.retry_seconds)
                continue
            if self._broker_down_since is not None:
                log.info(
                    "broker confirms again", down_seconds=round(time.monotonic() - self._broker_down_since, 1)
                )
                self._broker_down_since = None
            with self._cond:
                for _ in batch:
                    self._pending.popleft()
