"""Per-destination limits every worker shares: a circuit breaker, a concurrency cap and a rate limit.

State lives in Redis (``AXIOM_CACHE_URL``), so five workers see one breaker and one cap; without
Redis (the embedded default) it lives in the process. Keys hold destination names only.

Breaker: closed until ``failures`` consecutive transient failures; then open for ``cooldown_seconds``
(sends are not tried); then half-open: one probe is let through, and its outcome closes or reopens it.
"""

from __future__ import annotations

import threading
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import redis

from axiom.domain.destinations import DestinationBase

# A held concurrency slot expires after this, so a killed worker cannot hold one forever.
SLOT_LEASE_SECONDS = 300.0


@dataclass(frozen=True)
class BreakerState:
    state: str  # "closed", "open" or "half_open"
    consecutive_failures: int
    open_for_seconds: float = 0.0


class DeliveryGuard(ABC):
    """Shared state behind the limits; one per worker process."""

    # Circuit breaker ------------------------------------------------------------------------------

    @abstractmethod
    def allows(self, config: DestinationBase) -> bool:
        """Whether a send may be tried now (claims the half-open probe when it is due)."""

    @abstractmethod
    def succeeded(self, config: DestinationBase) -> None: ...

    @abstractmethod
    def failed(self, config: DestinationBase) -> None:
        """Count a transient failure; opens the circuit at the threshold (or when a probe failed)."""

    @abstractmethod
    def breaker(self, config: DestinationBase) -> BreakerState: ...

    # Concurrency and rate ---------------------------------------------------------------------------

    @contextmanager
    def slot(self, config: DestinationBase) -> Iterator[None]:
        """Hold one of ``max_concurrency`` slots while sending (waits for one), then one rate token."""
        token = self._acquire(config) if config.max_concurrency else None
        try:
            if config.rate_limit_per_second:
                self._take_rate_token(config.name, config.rate_limit_per_second)
            yield
        finally:
            if token is not None:
                self._release(config.name, token)

    @abstractmethod
    def _acquire(self, config: DestinationBase) -> str: ...

    @abstractmethod
    def _release(self, name: str, token: str) -> None: ...

    @abstractmethod
    def _take_rate_token(self, name: str, per_second: float) -> None: ...

    def close(self) -> None:  # noqa: B027 - the in-process guard holds nothing
        pass


class LocalGuard(DeliveryGuard):
    """In-process state: the embedded default (one worker process holds it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._open_until: dict[str, float] = {}
        self._probe_until: dict[str, float] = {}
        self._slots: dict[str, int] = {}
        self._next_send: dict[str, float] = {}
        self._freed = threading.Condition(self._lock)

    def allows(self, config: DestinationBase) -> bool:
        now = time.monotonic()
        with self._lock:
            if self._failures.get(config.name, 0) < config.breaker.failures:
                return True
            if now < self._open_until.get(config.name, 0.0) or now < self._probe_until.get(config.name, 0.0):
                return False
            self._probe_until[config.name] = now + config.breaker.cooldown_seconds
            return True

    def succeeded(self, config: DestinationBase) -> None:
        with self._lock:
            self._failures.pop(config.name, None)
            self._open_until.pop(config.name, None)
            self._probe_until.pop(config.name, None)

    def failed(self, config: DestinationBase) -> None:
        with self._lock:
            count = self._failures[config.name] = self._failures.get(config.name, 0) + 1
            if count >= config.breaker.failures:
                self._open_until[config.name] = time.monotonic() + config.breaker.cooldown_seconds
                self._probe_until.pop(config.name, None)

    def breaker(self, config: DestinationBase) -> BreakerState:
        with self._lock:
            failures = self._failures.get(config.name, 0)
            left = self._open_until.get(config.name, 0.0) - time.monotonic()
        if failures < config.breaker.failures:
            return BreakerState("closed", failures)
        return BreakerState("open", failures, left) if left > 0 else BreakerState("half_open", failures)

    def _acquire(self, config: DestinationBase) -> str:
        cap = config.max_concurrency or 1
        with self._freed:
            self._freed.wait_for(lambda: self._slots.get(config.name, 0) < cap)
            self._slots[config.name] = self._slots.get(config.name, 0) + 1
        return config.name

    def _release(self, name: str, token: str) -> None:
        with self._freed:
            self._slots[name] -= 1
            self._freed.notify_all()

    def _take_rate_token(self, name: str, per_second: float) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_send.get(name, now))
            self._next_send[name] = start + 1.0 / per_second
        if start > now:
            time.sleep(start - now)


# KEYS[1] = slots zset; ARGV = now, lease, cap, token. Drops expired holders, then takes a slot if free.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1] - ARGV[2])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
  redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2]))
  return 1
end
return 0
"""

# KEYS[1] = next-send time key; ARGV = now, interval. Reserves the next send time; returns the wait.
_RATE = """
local nxt = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
local start = math.max(tonumber(ARGV[1]), nxt)
redis.call('SET', KEYS[1], start + tonumber(ARGV[2]), 'PX', math.ceil((start - ARGV[1] + ARGV[2]) * 1000) + 1000)
return tostring(start - tonumber(ARGV[1]))
"""


class RedisGuard(DeliveryGuard):
    """State shared by every worker through Redis (server time, so worker clocks need not agree)."""

    def __init__(self, url: str, prefix: str = "axiom:dest:") -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix
        self._acquire_script = self._client.register_script(_ACQUIRE)
        self._rate_script = self._client.register_script(_RATE)

    def _key(self, name: str, part: str) -> str:
        return f"{self._prefix}{name}:{part}"

    def _now(self) -> float:
        seconds, micros = self._client.time()
        return float(seconds) + micros / 1e6

    def allows(self, config: DestinationBase) -> bool:
        failures = int(self._client.get(self._key(config.name, "failures")) or 0)
        if failures < config.breaker.failures:
            return True
        if self._client.exists(self._key(config.name, "open")):
            return False
        # Half-open: exactly one worker wins the probe for this cool-down period.
        cooldown_ms = int(config.breaker.cooldown_seconds * 1000)
        return bool(self._client.set(self._key(config.name, "probe"), "1", nx=True, px=cooldown_ms))

    def succeeded(self, config: DestinationBase) -> None:
        self._client.delete(*(self._key(config.name, p) for p in ("failures", "open", "probe")))

    def failed(self, config: DestinationBase) -> None:
        failures = int(self._client.incr(self._key(config.name, "failures")))
        if failures >= config.breaker.failures:
            cooldown_ms = int(config.breaker.cooldown_seconds * 1000)
            pipe = self._client.pipeline()
            pipe.set(self._key(config.name, "open"), "1", px=cooldown_ms)
            pipe.delete(self._key(config.name, "probe"))
            pipe.execute()

    def breaker(self, config: DestinationBase) -> BreakerState:
        failures = int(self._client.get(self._key(config.name, "failures")) or 0)
        if failures < config.breaker.failures:
            return BreakerState("closed", failures)
        left_ms = int(self._client.pttl(self._key(config.name, "open")))
        return (
            BreakerState("open", failures, left_ms / 1000)
            if left_ms > 0
            else BreakerState("half_open", failures)
        )

    def _acquire(self, config: DestinationBase) -> str:
        token = uuid.uuid4().hex
        key = self._key(config.name, "slots")
        while not self._acquire_script(
            keys=[key], args=[self._now(), SLOT_LEASE_SECONDS, config.max_concurrency or 1, token]
        ):
            time.sleep(0.01)
        return token

    def _release(self, name: str, token: str) -> None:
        self._client.zrem(self._key(name, "slots"), token)

    def _take_rate_token(self, name: str, per_second: float) -> None:
        wait = float(self._rate_script(keys=[self._key(name, "rate")], args=[self._now(), 1.0 / per_second]))
        if wait > 0:
            time.sleep(wait)

    def close(self) -> None:
        self._client.close()


def make_guard(cache_url: str) -> DeliveryGuard:
    return (
        RedisGuard(cache_url) if cache_url.startswith(("redis://", "rediss://", "unix://")) else LocalGuard()
    )
