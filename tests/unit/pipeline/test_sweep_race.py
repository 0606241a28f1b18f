"""The spool sweep does not race live work (issue 15, item 3), through a real spool, real SQLite, a
real C-STORE peer and the real embedded broker: two tasks for one arrival never route it at the same
time, and the sweep republishes only what is provably not in flight."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from axiom.config import Settings
from axiom.dicom.spool_claim import claim
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.recover import message_for_spooled_file, recover_spool
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.support.scp import StorageSCP
from tests.unit.pipeline.test_route import _spool_dataset
from workers.celery_app import create_app
from workers.publisher import CeleryPublisher


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def test_two_tasks_for_one_arrival_deliver_it_once(runtime: Runtime, tmp_path: Path) -> None:
    with StorageSCP(delay=0.5) as pacs:
        config = {
            "destinations": [
                {
                    "name": "pacs",
                    "type": "cstore",
                    "host": pacs.host,
                    "port": pacs.port,
                    "ae_title": "TESTSCP",
                }
            ],
            "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["pacs"]}]}],
        }
        apply_dict(runtime, config, tmp_path)
        spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
        message = message_for_spooled_file(spooled)
        # The original task and the sweep's republished copy, taken by two worker processes at once.
        outcomes: list[object] = []
        threads = [
            threading.Thread(target=lambda: outcomes.append(route_instance(runtime, message)))
            for _ in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)

        assert len(pacs.log.received) == 1
    assert sorted(o is None for o in outcomes) == [False, True]  # one routed it, the other stood back
    assert not spooled.exists()


def test_a_task_that_comes_after_the_holder_finished_finds_nothing_to_do(
    runtime: Runtime, tmp_path: Path
) -> None:
    apply_dict(
        runtime,
        {
            "destinations": [{"name": "archive", "type": "filesystem"}],
            "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        },
        tmp_path,
    )
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
    message = message_for_spooled_file(spooled)
    # It opened the file before the first task removed it, and got the claim only afterwards.
    fd = os.open(spooled, os.O_RDONLY)
    try:
        assert route_instance(runtime, message) is not None
        with pytest.raises(FileNotFoundError), claim(spooled):
            pass
    finally:
        os.close(fd)
    assert route_instance(runtime, message) is None
    assert len(list((runtime.settings.destinations_root / "archive").rglob("*.dcm"))) == 1


def _embedded(runtime: Runtime) -> tuple[Settings, CeleryPublisher, Path]:
    settings = runtime.settings.model_copy(update={"spool_recover_after_seconds": 0.0})
    app = create_app(settings)
    return settings, CeleryPublisher(app), settings.broker_dir / "queue"


def _stale(runtime: Runtime, tmp_path: Path, name: str) -> InstanceMessage:
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / name)
    past = time.time() - 60
    os.utime(spooled, (past, past))
    return message_for_spooled_file(spooled)


def test_sweep_waits_while_instance_tasks_are_queued(runtime: Runtime, tmp_path: Path) -> None:
    settings, publisher, queue = _embedded(runtime)
    queued = _stale(runtime, tmp_path, "a.dcm")
    publisher.publish_instance(queued)  # its task waits in the broker behind a backlog
    assert publisher.queued_instances() == 1

    assert recover_spool(settings, publisher, publisher.queued_instances) == 0
    assert len(list(queue.iterdir())) == 1  # no second task for it


def test_sweep_republishes_a_lost_task_but_not_one_in_flight(runtime: Runtime, tmp_path: Path) -> None:
    settings, publisher, queue = _embedded(runtime)
    held = _stale(runtime, tmp_path, "held.dcm")
    lost = _stale(runtime, tmp_path, "lost.dcm")
    assert publisher.queued_instances() == 0

    with claim(Path(held.spool_path)):  # a worker is routing this one right now
        assert recover_spool(settings, publisher, publisher.queued_instances) == 1

    (task,) = queue.iterdir()
    assert lost.spool_path in task.read_text()
