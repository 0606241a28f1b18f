"""Limits on failed logins, shared by every API replica through Redis when a cache URL is set.

Two counts, each a sliding window of ``login_failure_window_seconds``:

* per user name from one client (``login_max_failures``): guessing one account's password;
* per client across every user name (``login_spray_max_failures``): one password tried on many
  accounts (password spraying).

An attempt is refused (429) before the password is checked while either count is at its limit, and
a refused attempt is not counted: a lock ends at most one window after the last failure that was
checked, so the right password is never locked out for longer than the window, however long someone
keeps trying. A successful login clears its own user-and-client count, never the client's spraying
count. Failures are kept in Redis sorted sets (keys hashed: no user name or address is stored), or
in this process when no Redis URL is set; if Redis cannot be reached the process counts on its own
rather than refusing every login.
"""

from __future__ import annotations

import hashlib
import math
import threading
import uuid
from collections import deque
from typing import Protocol

import structlog

log = structlog.get_logger("axiom.login_limits")

# (user name, client address): the key the API passes.
LoginKey = tuple[str, str]


class FailureLog(Protocol):
    def recent(self, key: str, now: float, window: float) -> list[float]:
        """Times of the failures of ``key`` within the window, oldest first."""
        ...

    def add(self, key: str, now: float, window: float, keep: int) -> None: ...

    def clear(self, key: str) -> None: ...


class MemoryFailureLog:
    """In-process, bounded: above MAX_KEYS keys, those without a recent failure are dropped."""

    MAX_KEYS = 10_000

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def recent(self, key: str, now: float, window: float) -> list[float]:
        with self._lock:
            failures = self._failures.get(key)
            if failures is None:
                return []
            _expire(failures, now, window)
            if not failures:
                del self._failures[key]
            return list(failures)

    def add(self, key: str, now: float, window: float, keep: int) -> None:
        with self._lock:
            if key not in self._failures and len(self._failures) >= self.MAX_KEYS:
                for other in list(self._failures):
                    _expire(self._failures[other], now, window)
                    if not self._failures[other]:
                        del self._failures[other]
            failures = self._failures.setdefault(key, deque())
            _expire(failures, now, window)
            failures.append(now)
            while len(failures) > max(keep, 1):
                failures.popleft()

    def clear(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)


def _expire(failures: deque[float], now: float, window: float) -> None:
    while failures and failures[0] <= now - window:
        failures.popleft()


class RedisFailureLog:
    """One sorted set per key (score: the failure's time), expiring one window after its last add."""

    def __init__(self, url: str) -> None:
        import redis

        self._client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)

    def recent(self, key: str, now: float, window: float) -> list[float]:
        pipe = self._client.pipeline()
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zrange(key, 0, -1, withscores=True)
        _, entries = pipe.execute()
        return [float(score) for _, score in entries]

    def add(self, key: str, now: float, window: float, keep: int) -> None:
        pipe = self._client.pipeline()
        pipe.zadd(key, {f"{now:.6f}:{uuid.uuid4().hex[:8]}": now})
        pipe.zremrangebyscore(key, "-inf", now - window)
        pipe.zremrangebyrank(key, 0, -(max(keep, 1) + 1))
        pipe.expire(key, math.ceil(window) + 1)
        pipe.execute()

    def clear(self, key: str) -> None:
        self._client.delete(key)


class LoginRateLimiter:
    """Failed logins per (user name, client) and per client; see the module docstring."""

    def __init__(
        self,
        max_failures: int,
        window_seconds: float,
        *,
        spray_max_failures: int = 0,
        failures: FailureLog | None = None,
    ) -> None:
        self.max_failures = max_failures
        self.spray_max_failures = spray_max_failures
        self.window_seconds = window_seconds
        self._log: FailureLog = failures or MemoryFailureLog()
        self._fallback = MemoryFailureLog()

    def _keys(self, key: LoginKey) -> list[tuple[str, int]]:
        user, client = key
        pair = hashlib.sha256(f"{user.lower()}\0{client}".encode()).hexdigest()[:32]
        spray = hashlib.sha256(client.encode()).hexdigest()[:32]
        return [
            (f"axiom:login:user:{pair}", self.max_failures),
            (f"axiom:login:client:{spray}", self.spray_max_failures),
        ]

    def _call(self, method: str, *args: object) -> object:
        try:
            return getattr(self._log, method)(*args)
        except Exception as exc:  # Redis unreachable: count in this process rather than refuse all
            if self._log is self._fallback:
                raise
            log.warning("login failures counted in-process", error=type(exc).__name__)
            return getattr(self._fallback, method)(*args)

    def retry_after(self, key: LoginKey, now: float | None = None) -> float | None:
        """Seconds until the next attempt is allowed; None when it is allowed now."""
        now = _now() if now is None else now
        wait = 0.0
        for name, limit in self._keys(key):
            if limit <= 0:
                continue
            recent = self._call("recent", name, now, self.window_seconds)
            assert isinstance(recent, list)
            if len(recent) >= limit:
                # Allowed again once the limit-th most recent failure leaves the window.
                wait = max(wait, recent[-limit] + self.window_seconds - now, 1e-3)
        return wait or None

    def record_failure(self, key: LoginKey, now: float | None = None) -> None:
        now = _now() if now is None else now
        for name, limit in self._keys(key):
            if limit > 0:
                self._call("add", name, now, self.window_seconds, limit)

    def reset(self, key: LoginKey) -> None:
        """After a successful login: its user-and-client count only (not the client's spraying count)."""
        name, _ = self._keys(key)[0]
        self._call("clear", name)


def _now() -> float:
    import time

    return time.time()  # wall clock: replicas compare times through Redis


def make_login_limiter(
    max_failures: int, window_seconds: float, spray_max_failures: int, redis_url: str
) -> LoginRateLimiter:
    """Counts in Redis when ``redis_url`` is a Redis URL, else in this process."""
    shared = redis_url.startswith(("redis://", "rediss://", "unix://"))
    return LoginRateLimiter(
        max_failures,
        window_seconds,
        spray_max_failures=spray_max_failures,
        failures=RedisFailureLog(redis_url) if shared else None,
    )


__all__ = [
    "FailureLog",
    "LoginKey",
    "LoginRateLimiter",
    "MemoryFailureLog",
    "RedisFailureLog",
    "make_login_limiter",
]
