"""Per-destination circuit breaker, concurrency cap and rate limit: in-process and shared through a
real Redis by several 'workers' (separate guard objects, and separate processes for the cap)."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from axiom.destinations.filesystem import FilesystemDestinationConfig
from axiom.domain.destinations import CircuitBreakerConfig
from axiom.infra.delivery_guard import DeliveryGuard, LocalGuard, RedisGuard


def _config(**fields: object) -> FilesystemDestinationConfig:
    return FilesystemDestinationConfig.model_validate({"name": "pacs", **fields})


@pytest.fixture(params=["local", "redis"])
def workers(request: pytest.FixtureRequest) -> Iterator[Callable[[], DeliveryGuard]]:
    """Makes the guard of one more worker; all share state (one process's, or Redis's)."""
    if request.param == "local":
        shared = LocalGuard()
        yield lambda: shared
        return
    url = request.getfixturevalue("redis_url")
    made: list[DeliveryGuard] = []

    def make() -> DeliveryGuard:
        made.append(RedisGuard(url))
        return made[-1]

    yield make
    for guard in made:
        guard.close()


def test_breaker_opens_after_consecutive_failures_seen_by_every_worker(
    workers: Callable[[], DeliveryGuard],
) -> None:
    config = _config(circuit_breaker={"failures": 3, "cooldown_seconds": 0.3})
    first, second = workers(), workers()
    first.failed(config)
    second.failed(config)
    assert first.allows(config) and second.breaker(config).state == "closed"
    second.succeeded(config)  # a success in between resets the count
    for _ in range(3):
        first.failed(config)
    assert not second.allows(config)
    state = second.breaker(config)
    assert state.state == "open" and state.consecutive_failures == 3 and 0 < state.open_for_seconds <= 0.3

    time.sleep(0.35)
    # Half-open: one probe across all workers.
    assert [first.allows(config), second.allows(config)].count(True) == 1
    first.failed(config)  # the probe failed: open again for a new cool-down
    assert not first.allows(config) and first.breaker(config).state == "open"
    time.sleep(0.35)
    assert second.allows(config)
    second.succeeded(config)
    assert first.allows(config) and first.breaker(config).state == "closed"


def test_concurrency_cap_holds_across_threads(workers: Callable[[], DeliveryGuard]) -> None:
    config = _config(max_concurrency=2)
    active, peak, lock = [0], [0], threading.Lock()

    def send(guard: DeliveryGuard) -> None:
        with guard.slot(config):
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.1)
            with lock:
                active[0] -= 1

    threads = [threading.Thread(target=send, args=(workers(),)) for _ in range(6)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    assert time.monotonic() - started >= 0.29  # three rounds of two


def _hold_slot(url: str, cap: int, log: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    guard = RedisGuard(url)
    with guard.slot(_config(max_concurrency=cap)):
        log.put(("in", time.time()))
        time.sleep(0.2)
        log.put(("out", time.time()))
    guard.close()


def test_concurrency_cap_holds_across_worker_processes(redis_url: str) -> None:
    log: multiprocessing.Queue = multiprocessing.Queue()  # type: ignore[type-arg]
    procs = [multiprocessing.Process(target=_hold_slot, args=(redis_url, 2, log)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    events = sorted(log.get(timeout=5) for _ in range(8))
    events.sort(key=lambda e: (e[1], e[0] == "in"))  # at equal times, count a release first
    active = peak = 0
    for kind, _ in events:
        active += 1 if kind == "in" else -1
        peak = max(peak, active)
    assert peak == 2


def test_rate_limit_is_shared(workers: Callable[[], DeliveryGuard]) -> None:
    config = _config(rate_limit_per_second=20)
    guards = [workers(), workers()]
    started = time.monotonic()
    for i in range(10):
        with guards[i % 2].slot(config):
            pass
    # Ten sends at 20/s: the first at once, the tenth 0.45 s later, whichever worker sends it.
    assert time.monotonic() - started >= 0.4


def test_defaults_need_no_configuration() -> None:
    config = _config()
    assert config.breaker == CircuitBreakerConfig(failures=5, cooldown_seconds=60)
    assert "circuit_breaker" not in config.model_dump(exclude_none=True)
