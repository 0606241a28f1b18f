"""The listener's batching publisher through the real embedded broker: a stream becomes one batch
task, a lone instance leaves after the idle pause rather than the full delay, a steady stream is
not split at every gap, and the size cap splits a burst."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from axiom.config import Settings
from axiom.domain.messages import InstanceMessage
from workers.batch_publisher import BatchingPublisher
from workers.celery_app import create_app


def _message(n: int) -> InstanceMessage:
    return InstanceMessage(
        spool_path=f"/spool/{n}.dcm",
        sop_instance_uid=f"1.2.3.{n}",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="MODALITY",
        called_ae="AXIOM",
        source="listener",
        received_at="2026-12-07T00:00:00+00:00",
        size_bytes=1,
    )


def _batches(settings: Settings) -> list[list[str]]:
    """The batch tasks waiting in the broker, in publishing order: the SOP Instance UIDs of each."""
    tasks = sorted((settings.broker_dir / "queue").iterdir(), key=lambda p: int(p.name.split("_")[0]))
    batches = []
    for task in tasks:
        args = json.loads(base64.b64decode(json.loads(task.read_text())["body"]))[0]
        batches.append([m["sop_instance_uid"] for m in args[0]])
    return batches


def _publisher(tmp_path: Path, **options: float) -> tuple[Settings, BatchingPublisher]:
    settings = Settings(data_dir=tmp_path / "data")
    settings.ensure_dirs()
    return settings, BatchingPublisher(create_app(settings), **options)  # type: ignore[arg-type]


def _wait_for_tasks(settings: Settings, count: int, within: float) -> float:
    started = time.monotonic()
    while len(list((settings.broker_dir / "queue").iterdir())) < count:
        assert time.monotonic() - started < within, "batch tasks not published in time"
        time.sleep(0.005)
    return time.monotonic() - started


def test_a_stream_becomes_one_batch_and_a_pause_closes_it(tmp_path: Path) -> None:
    settings, publisher = _publisher(tmp_path, max_delay=30.0, idle=0.5)
    try:
        for n in range(20):  # arrivals 1 ms apart: never a pause of 0.5 s
            publisher.publish_instance(_message(n))
            time.sleep(0.001)
        _wait_for_tasks(settings, 1, within=10)
        time.sleep(0.3)
    finally:
        publisher.close()
    assert _batches(settings) == [[f"1.2.3.{n}" for n in range(20)]]


def test_a_lone_instance_leaves_after_the_pause_not_the_full_delay(tmp_path: Path) -> None:
    settings, publisher = _publisher(tmp_path, max_delay=30.0, idle=0.01)
    try:
        publisher.publish_instance(_message(1))
        waited = _wait_for_tasks(settings, 1, within=10)
    finally:
        publisher.close()
    assert waited < 5  # far below the 30 s delay: the 10 ms pause closed the batch
    assert _batches(settings) == [["1.2.3.1"]]


def test_a_steady_stream_with_gaps_near_the_idle_pause_is_not_split_into_singles(tmp_path: Path) -> None:
    """One association's CT images arrive every few milliseconds: a pause is measured against that
    pace, so the stream is batched instead of leaving instance by instance."""
    settings, publisher = _publisher(tmp_path, max_delay=5.0, idle=0.01)
    try:
        for n in range(20):  # 20 ms apart: each gap is twice the 10 ms idle pause
            publisher.publish_instance(_message(n))
            time.sleep(0.02)
        time.sleep(0.5)
    finally:
        publisher.close()
    batches = _batches(settings)
    assert [uid for batch in batches for uid in batch] == [f"1.2.3.{n}" for n in range(20)]
    # The first leaves alone (no pace known yet, so the idle pause); the rest go together.
    assert len(batches) <= 3, [len(b) for b in batches]


def test_the_size_cap_splits_a_burst(tmp_path: Path) -> None:
    settings, publisher = _publisher(tmp_path, max_batch=8, max_delay=30.0, idle=5.0)
    try:
        for n in range(20):
            publisher.publish_instance(_message(n))
        _wait_for_tasks(settings, 2, within=10)
    finally:
        publisher.close()  # publishes the last 4 at once
    assert [len(b) for b in _batches(settings)] == [8, 8, 4]
