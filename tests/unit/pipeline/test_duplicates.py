"""Duplicates only where physics forces them (issue 15, item 4), through route_instance and
retry_delivery on real SQLite, a real spool and real filesystem destinations: each destination's
ledger row is committed after its own send, a re-receipt of identical content is skipped per the
destination's ``on_duplicate``, and an instance's status follows its retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.retry import retry_delivery
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset


def _config(*destinations: dict[str, Any], actions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"name": "all", "destinations": [d["name"] for d in destinations]}
    if actions:
        rule["actions"] = actions
    return {"destinations": list(destinations), "rulesets": [{"name": "main", "rules": [rule]}]}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _files(runtime: Runtime, name: str) -> list[Path]:
    return sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))


def _arrive(runtime: Runtime, ds: Any, path: Path) -> Any:
    return route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, path)))


def _skipped_metric(name: str) -> float:
    return REGISTRY.get_sample_value("axiom_duplicates_skipped_total", {"destination": name}) or 0.0


def test_identical_content_received_again_is_skipped_and_counted(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config({"name": "archive", "type": "filesystem"}), tmp_path)
    ds = make_dataset()
    assert _arrive(runtime, ds, tmp_path / "a.dcm").delivered == ["archive"]
    (archived,) = _files(runtime, "archive")
    written = archived.stat().st_mtime_ns
    before = _skipped_metric("archive")

    # The sender resends (the listener died before answering): a new arrival, identical content.
    again = _arrive(runtime, ds, tmp_path / "b.dcm")

    assert again is not None and again.status == InstanceStatus.DELIVERED
    assert again.delivered == [] and again.skipped == ["archive"]
    assert archived.stat().st_mtime_ns == written
    assert _rows(runtime, "SELECT status, skipped_count FROM deliveries") == [("delivered", 1)]
    assert _skipped_metric("archive") == before + 1
    assert list(runtime.settings.spool_dir.iterdir()) == []

    ds.StudyDescription = "CORRECTED"  # changed content under the same UID is sent
    assert _arrive(runtime, ds, tmp_path / "c.dcm").delivered == ["archive"]


def test_send_if_changed_sends_only_when_what_goes_out_changed(runtime: Runtime, tmp_path: Path) -> None:
    dest = {"name": "pacs", "type": "filesystem", "on_duplicate": "send_if_changed"}
    apply_dict(runtime, _config(dest, actions=[{"set": {"tag": "StationName", "value": "ONE"}}]), tmp_path)
    ds = make_dataset()
    assert _arrive(runtime, ds, tmp_path / "a.dcm").delivered == ["pacs"]
    assert _arrive(runtime, ds, tmp_path / "b.dcm").skipped == ["pacs"]

    # The rules changed what goes out: the same received content is sent again.
    apply_dict(runtime, _config(dest, actions=[{"set": {"tag": "StationName", "value": "TWO"}}]), tmp_path)
    assert _arrive(runtime, ds, tmp_path / "c.dcm").delivered == ["pacs"]


def test_each_destination_is_committed_after_its_own_send(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(
        runtime,
        _config({"name": "first", "type": "filesystem"}, {"name": "second", "type": "filesystem"}),
        tmp_path,
    )
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
    message = message_for_spooled_file(spooled)
    # The database fails between the two sends (here: on the second destination's ledger row).
    with runtime.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TRIGGER fail_inserts BEFORE INSERT ON deliveries WHEN NEW.destination = 'second' "
                "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END"
            )
        )
    with pytest.raises(Exception, match="disk I/O error"):
        route_instance(runtime, message)
    with runtime.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER fail_inserts"))
    (first,) = _files(runtime, "first")
    written = first.stat().st_mtime_ns

    outcome = route_instance(runtime, message)  # the task's retry

    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert outcome.delivered == ["second"]  # the first destination is not sent again
    assert first.stat().st_mtime_ns == written
    assert _rows(runtime, "SELECT destination, status FROM deliveries ORDER BY destination") == [
        ("first", "delivered"),
        ("second", "delivered"),
    ]


def test_an_instance_status_follows_its_retries(runtime: Runtime, tmp_path: Path) -> None:
    from tests.support.dcmtk import free_port

    pacs = {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": free_port(), "ae_title": "NONE"}
    apply_dict(runtime, _config({"name": "archive", "type": "filesystem"}, pacs), tmp_path)
    outcome = _arrive(runtime, make_dataset(), tmp_path / "a.dcm")
    assert outcome is not None and outcome.status == InstanceStatus.PARTIAL
    ((exception_id,),) = _rows(runtime, "SELECT id FROM exception_logs")

    apply_dict(
        runtime,
        _config({"name": "archive", "type": "filesystem"}, {"name": "pacs", "type": "filesystem"}),
        tmp_path,
    )
    assert retry_delivery(runtime, exception_id).state == "delivered"
    assert _rows(runtime, "SELECT status FROM dicom_instances") == [("delivered",)]


def test_a_rerun_keeps_the_status_of_what_its_first_run_failed(runtime: Runtime, tmp_path: Path) -> None:
    from tests.support.dcmtk import free_port

    pacs = {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": free_port(), "ae_title": "NONE"}
    apply_dict(runtime, _config({"name": "archive", "type": "filesystem"}, pacs), tmp_path)
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "a.dcm")
    kept = spooled.read_bytes()
    message = message_for_spooled_file(spooled)
    assert route_instance(runtime, message).status == InstanceStatus.PARTIAL  # type: ignore[union-attr]

    spooled.write_bytes(kept)  # a crash between the last commit and the unlink: the task runs again
    again = route_instance(runtime, message)

    assert again is not None and again.status == InstanceStatus.PARTIAL and again.delivered == []
    assert _rows(runtime, "SELECT status FROM dicom_instances") == [("partial",)]
    assert len(_rows(runtime, "SELECT id FROM exception_logs")) == 1
