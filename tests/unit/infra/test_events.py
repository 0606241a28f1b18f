"""Live events through both channels: Redis pub/sub (AXIOM_CACHE_URL set) and the events file."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from axiom.config import Settings
from axiom.infra import events as ev
from tests.support.services import require, tcp_open
from tests.unit.conftest import REDIS_URL


@pytest.fixture(params=["file", "redis"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "redis":
        require("Redis", tcp_open("127.0.0.1", 6379), "nothing listens on 127.0.0.1:6379")
        return Settings(data_dir=tmp_path, cache_url=REDIS_URL)
    return Settings(data_dir=tmp_path)


def test_a_subscriber_sees_new_events_in_order(settings: Settings) -> None:
    ev.make_events(settings).emit(ev.RECEIVED, sop_instance_uid="0.0")  # before: not seen
    subscription = ev.subscribe(settings)
    try:
        sink = ev.make_events(settings)
        kinds = [ev.RECEIVED, ev.ROUTED, ev.DELIVERED]
        for kind in kinds:
            sink.emit(kind, sop_instance_uid="1.2.3", correlation_id="abc", destination="archive")
        seen: list[dict[str, object]] = []
        for _ in range(20):
            seen += subscription.poll(0.2)
            if len(seen) >= 3:
                break
        assert [e["event"] for e in seen] == kinds
        assert all(e["sop_instance_uid"] == "1.2.3" and e["correlation_id"] == "abc" for e in seen)
    finally:
        subscription.close()


def test_events_from_several_threads_arrive_whole(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    subscription = ev.subscribe(settings)
    sink = ev.make_events(settings)
    threads = [
        threading.Thread(target=lambda n=n: [sink.emit(ev.ROUTED, n=n, i=i) for i in range(50)])
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seen = subscription.poll(1.0)
    assert len(seen) == 200
    subscription.close()


def test_a_dead_redis_never_fails_or_slows_the_emitter() -> None:
    sink = ev.RedisEvents("redis://127.0.0.1:1/0")
    sink.emit(ev.FAILED, sop_instance_uid="1")
    started = time.monotonic()
    for _ in range(100):
        sink.emit(ev.FAILED, sop_instance_uid="1")
    assert time.monotonic() - started < 0.1
