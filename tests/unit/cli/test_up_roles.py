"""Which processes ``axiom up`` starts: on SQLite one data-path worker, the database's one writer
while it keeps up."""

from __future__ import annotations

import os
from collections.abc import Callable

from axiom.config import Settings
from cli.up import role_commands


def test_on_sqlite_the_data_path_has_one_worker_and_the_rest_another(
    settings_factory: Callable[..., Settings],
) -> None:
    commands = role_commands(settings_factory())
    # One process, grown to one per CPU while batches wait (anonymization, AI: the CPU-heavy routes).
    most = os.cpu_count() or 1
    assert commands["worker"] == ["worker", "--queues", "high,default", "--autoscale", f"{most},1"]
    assert commands["background-worker"] == ["worker", "--queues", "low,retry", "--concurrency", "1"]
    assert {"listen", "beat", "api"} <= set(commands)


def test_a_set_concurrency_or_postgresql_keeps_one_worker_on_every_queue(
    settings_factory: Callable[..., Settings],
) -> None:
    for settings in (
        settings_factory(worker_concurrency=3),
        settings_factory(database_url="postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    ):
        commands = role_commands(settings)
        assert commands["worker"] == ["worker"]
        assert "background-worker" not in commands
