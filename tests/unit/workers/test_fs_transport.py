"""The embedded transport under concurrent producers and consumers in separate processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection, Exchange, Queue
from kombu.transport import virtual

from workers.fs_transport import Transport

TRANSPORT = "workers.fs_transport:Transport"


def _options(folder: Path) -> dict[str, object]:
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "processed_folder": str(folder / "processed"),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": 0.01,
    }


def _produce(folder: Path, start: int, count: int) -> None:
    queue = Queue("work", Exchange("x", "direct"), routing_key="work")
    with Connection(transport=TRANSPORT, transport_options=_options(folder)) as conn:
        producer = conn.Producer()
        for n in range(start, start + count):
            producer.publish(
                {"n": n, "pad": "x" * 4000}, exchange=queue.exchange, routing_key="work", declare=[queue]
            )


def _consume(folder: Path, out: multiprocessing.Queue, idle_rounds: int) -> None:
    with Connection(transport=TRANSPORT, transport_options=_options(folder)) as conn:
        simple = conn.SimpleQueue("work")
        idle = 0
        while idle < idle_rounds:
            try:
                message = simple.get(timeout=0.05)
            except Empty:
                idle += 1
                continue
            idle = 0
            out.put(message.payload["n"])
            message.ack()


def test_every_message_is_received_exactly_once_and_whole(tmp_path: Path) -> None:
    for sub in ("queue", "processed"):
        (tmp_path / sub).mkdir()
    ctx = multiprocessing.get_context("spawn")
    received: multiprocessing.Queue = ctx.Queue()
    producers = [ctx.Process(target=_produce, args=(tmp_path, i * 300, 300)) for i in range(2)]
    consumers = [ctx.Process(target=_consume, args=(tmp_path, received, 40)) for _ in range(3)]
    for proc in producers + consumers:
        proc.start()
    for proc in producers + consumers:
        proc.join(120)
        assert proc.exitcode == 0
    got = []
    while not received.empty():
        got.append(received.get())
    assert sorted(got) == list(range(600))
    assert list((tmp_path / "queue").iterdir()) == []
    assert list((tmp_path / "processed").iterdir()) == []


def _claim_and_hang(folder: Path, claimed: multiprocessing.Queue) -> None:
    with Connection(transport=TRANSPORT, transport_options=_options(folder)) as conn:
        message = conn.SimpleQueue("work").get(timeout=10)
        claimed.put(message.payload["n"])
        time.sleep(60)  # killed meanwhile, never acknowledging


def test_a_message_claimed_by_a_killed_consumer_returns_within_seconds(tmp_path: Path) -> None:
    for sub in ("queue", "processed"):
        (tmp_path / sub).mkdir()
    _produce(tmp_path, 0, 1)
    ctx = multiprocessing.get_context("spawn")
    claimed: multiprocessing.Queue = ctx.Queue()
    worker = ctx.Process(target=_claim_and_hang, args=(tmp_path, claimed))
    worker.start()
    assert claimed.get(timeout=30) == 0
    assert list((tmp_path / "queue").iterdir()) == []  # claimed, so no other consumer sees it
    os.kill(worker.pid or 0, signal.SIGKILL)
    worker.join(10)

    killed_at = time.monotonic()
    with Connection(transport=TRANSPORT, transport_options=_options(tmp_path)) as conn:
        message = conn.SimpleQueue("work").get(timeout=10)
        assert message.payload["n"] == 0
        message.ack()
    assert time.monotonic() - killed_at < 5
    assert list((tmp_path / "processed").iterdir()) == []


def test_a_message_is_fsynced_with_its_folder_before_publish_returns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real fsync runs; the wrapper only notes which file or folder each call made durable."""
    for sub in ("queue", "processed"):
        (tmp_path / sub).mkdir()
    synced: list[Path] = []
    real_fsync = os.fsync

    def noting_fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", noting_fsync)
    # kombu keeps the filesystem transport's bindings in one state per process: start from none, as
    # a listener does, not from the bindings another test's folders left.
    monkeypatch.setattr(Transport, "global_state", virtual.BrokerState())
    _produce(tmp_path, 0, 1)
    (message,) = (tmp_path / "queue").iterdir()
    assert tmp_path / "queue" in synced  # the rename into place is durable
    assert any(p.parent == tmp_path / "queue" and p.name.startswith(".") for p in synced)  # the bytes
    assert message.name.endswith(".work.msg")
