"""Failed-login limits, in this process and in Redis (shared by replicas): per user name from one
client, per client across user names (spraying), and never a lock longer than the window."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from axiom.admin.login_limits import LoginRateLimiter, MemoryFailureLog, make_login_limiter

WINDOW = 60.0


@pytest.fixture(params=["memory", "redis"])
def limiters(request: pytest.FixtureRequest) -> Iterator[tuple[LoginRateLimiter, LoginRateLimiter]]:
    """Two limiters as two API replicas would have them: sharing Redis, or each on its own."""
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""
    yield (
        make_login_limiter(3, WINDOW, 5, url),
        make_login_limiter(3, WINDOW, 5, url),
    )


def test_per_user_and_client_then_per_client_across_user_names(
    limiters: tuple[LoginRateLimiter, LoginRateLimiter],
) -> None:
    limiter, _ = limiters
    for t in range(3):
        assert limiter.retry_after(("root", "10.0.0.1"), now=t) is None
        limiter.record_failure(("root", "10.0.0.1"), now=t)
    assert limiter.retry_after(("root", "10.0.0.1"), now=3) == pytest.approx(WINDOW - 3)
    assert limiter.retry_after(("ROOT", "10.0.0.1"), now=3) is not None  # user names are caseless
    assert limiter.retry_after(("root", "10.0.0.2"), now=3) is None  # another client
    # Spraying: two more user names from 10.0.0.1 make five failures from that client.
    limiter.record_failure(("alice", "10.0.0.1"), now=4)
    assert limiter.retry_after(("bob", "10.0.0.1"), now=4) is None
    limiter.record_failure(("bob", "10.0.0.1"), now=5)
    assert limiter.retry_after(("carol", "10.0.0.1"), now=6) == pytest.approx(WINDOW - 6)
    assert limiter.retry_after(("carol", "10.0.0.2"), now=6) is None
    # A success clears its own user-and-client count, not the client's spraying count.
    limiter.reset(("root", "10.0.0.1"))
    assert limiter.retry_after(("root", "10.0.0.1"), now=7) is not None


def test_the_right_password_is_never_locked_out_longer_than_the_window(
    limiters: tuple[LoginRateLimiter, LoginRateLimiter],
) -> None:
    """Someone keeps guessing every second; refused attempts are not counted, so the owner gets in
    at most one window after the last failure that was checked."""
    limiter, _ = limiters
    key = ("root", "10.0.0.9")
    last_checked = 0.0
    t = 0.0
    while t < 5 * WINDOW:
        wait = limiter.retry_after(key, now=t)
        if wait is None:
            limiter.record_failure(key, now=t)  # checked, and wrong
            last_checked = t
        else:
            assert wait <= WINDOW and t + wait <= last_checked + WINDOW
        t += 1.0
    owner_at = last_checked + WINDOW + 0.01
    assert limiter.retry_after(key, now=owner_at) is None


def test_replicas_share_the_count_through_redis(redis_url: str) -> None:
    one = make_login_limiter(3, WINDOW, 0, redis_url)
    other = make_login_limiter(3, WINDOW, 0, redis_url)
    for t in range(3):
        (one if t % 2 else other).record_failure(("root", "10.0.0.1"), now=t)
    assert one.retry_after(("root", "10.0.0.1"), now=3) is not None
    assert other.retry_after(("root", "10.0.0.1"), now=3) is not None


def test_an_unreachable_redis_falls_back_to_counting_in_process() -> None:
    limiter = make_login_limiter(2, WINDOW, 0, "redis://127.0.0.1:1/0")
    for t in range(2):
        limiter.record_failure(("root", "c"), now=t)
    assert limiter.retry_after(("root", "c"), now=2) is not None


def test_in_process_memory_stays_bounded() -> None:
    failures = MemoryFailureLog()
    failures.MAX_KEYS = 10
    limiter = LoginRateLimiter(3, 1.0, failures=failures)
    for i in range(100):
        limiter.record_failure((f"user{i}", "c"), now=float(i) * 2)
    assert len(failures._failures) <= 10
