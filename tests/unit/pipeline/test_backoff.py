from __future__ import annotations

import random

from axiom.pipeline.backoff import backoff_seconds


def test_backoff_grows_exponentially_and_stays_under_the_cap() -> None:
    rng = random.Random(1)
    for attempt in range(1, 15):
        ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
        delays = [backoff_seconds(attempt, base=2.0, cap=60.0, rng=rng) for _ in range(200)]
        assert min(delays) >= 1.0
        assert max(delays) <= ceiling
        # Jitter spreads retries instead of sending them all at the ceiling.
        assert max(delays) - min(delays) > (ceiling - 1.0) / 4
