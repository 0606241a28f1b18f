"""Faults in the middle of routing, through real SQLite and a real spool: a failed commit never
leaves a moved file behind without its row (issue 15, item 1)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

HOLD_ALL = {
    "destinations": [{"name": "archive", "type": "filesystem"}],
    "rulesets": [
        {"name": "main", "rules": [{"name": "hold", "actions": [{"quarantine": {"reason": "held"}}]}]}
    ],
}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


@contextmanager
def failing_inserts(runtime: Runtime, table: str = "exception_logs") -> Iterator[None]:
    """Every INSERT into ``table`` fails inside the database (a real SQLite error), as a commit that
    fails for any reason would."""
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                f"CREATE TRIGGER fail_inserts BEFORE INSERT ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END"
            )
        )
    try:
        yield
    finally:
        with runtime.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER fail_inserts"))


def _kept_rows(runtime: Runtime) -> list[tuple[str, str]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT stage, file_path FROM exception_logs"))]  # type: ignore[misc]


def _assert_kept_once(runtime: Runtime, spooled: Path, stage: str) -> None:
    ((row_stage, file_path),) = _kept_rows(runtime)
    assert row_stage == stage
    assert Path(file_path).exists() and Path(file_path).parent == runtime.settings.quarantine_dir
    assert not spooled.exists()


def test_a_failed_commit_while_holding_leaves_the_file_for_the_retry(
    runtime: Runtime, tmp_path: Path
) -> None:
    apply_dict(runtime, HOLD_ALL, tmp_path)
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
    message = message_for_spooled_file(spooled)
    with failing_inserts(runtime), pytest.raises(Exception, match="disk I/O error"):
        route_instance(runtime, message)
    assert spooled.exists(), "the file moved although its row was never committed"

    outcome = route_instance(runtime, message)  # the task's retry
    assert outcome is not None and outcome.status == InstanceStatus.QUARANTINED
    _assert_kept_once(runtime, spooled, "route")

    # A crash after the commit but before the move: the rerun finds the row and only moves the file.
    kept = Path(_kept_rows(runtime)[0][1])
    kept.rename(spooled)
    assert route_instance(runtime, message) is not None
    _assert_kept_once(runtime, spooled, "route")


def test_a_failed_commit_for_an_unreadable_file_leaves_it_for_the_retry(runtime: Runtime) -> None:
    spooled = runtime.settings.spool_dir / "1-unreadable.dcm"
    spooled.write_bytes(b"not DICOM at all " * 20)
    message = InstanceMessage(
        spool_path=str(spooled),
        sop_instance_uid="1.2.3.4",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        calling_ae="MODALITY",
        called_ae="AXIOM",
        source="listener",
        received_at=datetime.now(UTC).isoformat(),
        size_bytes=spooled.stat().st_size,
    )
    with failing_inserts(runtime), pytest.raises(Exception, match="disk I/O error"):
        route_instance(runtime, message)
    assert spooled.exists(), "the file moved although its row was never committed"

    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.QUARANTINED
    _assert_kept_once(runtime, spooled, "parse")


def test_a_failed_commit_while_placing_in_a_group_leaves_no_copy(runtime: Runtime, tmp_path: Path) -> None:
    rule = {"name": "whole", "trigger": "study", "destinations": ["archive"]}
    apply_dict(runtime, {**HOLD_ALL, "rulesets": [{"name": "main", "rules": [rule]}]}, tmp_path)
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
    message = message_for_spooled_file(spooled)
    with failing_inserts(runtime, "completion_members"), pytest.raises(Exception, match="disk I/O error"):
        route_instance(runtime, message)
    assert spooled.exists()
    assert list(runtime.settings.held_dir.iterdir()) == []

    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.WAITING
    assert len(list(runtime.settings.held_dir.iterdir())) == 1
