"""The delivery ledger through route_instance: a rerun after a crash sends nothing twice, a re-sent
instance is recognized and the rules decide, and each destination's outcome is a row."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.retry import retry_delivery
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

SKIP_RESENT = {
    "name": "skip-resent",
    "when": {"context": "resent", "equals": True},
    "actions": [{"drop": {"reason": "same content already delivered"}}],
}


def _config(*, pacs_port: int | None = None, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    destinations: list[dict[str, Any]] = [{"name": "archive", "type": "filesystem"}]
    names = ["archive"]
    if pacs_port is not None:
        destinations.append(
            {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": pacs_port, "ae_title": "NONE"}
        )
        names.append("pacs")
    rules = [*(extra or []), {"name": "all", "destinations": names}]
    return {"destinations": destinations, "rulesets": [{"name": "main", "rules": rules}]}


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _archived(runtime: Runtime) -> list[Path]:
    return sorted((runtime.settings.destinations_root / "archive").rglob("*.dcm"))


def test_rerun_of_the_same_arrival_sends_nothing_twice(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config(), tmp_path)
    ds = make_dataset()
    spooled = _spool_dataset(runtime, ds, tmp_path / "a.dcm")
    kept = shutil.copy(spooled, tmp_path / "kept.dcm")
    message = message_for_spooled_file(spooled)
    assert route_instance(runtime, message).status == InstanceStatus.DELIVERED  # type: ignore[union-attr]
    (archived,) = _archived(runtime)
    written = archived.stat().st_mtime_ns

    # A crash between the commit and the spool's unlink: the task runs again on the same file.
    shutil.copy(kept, spooled)
    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert outcome.delivered == []  # nothing was sent again
    assert archived.stat().st_mtime_ns == written
    assert _rows(runtime, "SELECT destination, status FROM deliveries") == [("archive", "delivered")]
    assert not spooled.exists()


def test_resent_instance_is_recognized_and_the_rule_decides(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config(extra=[SKIP_RESENT]), tmp_path)
    ds = make_dataset()
    route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "a.dcm")))
    (archived,) = _archived(runtime)
    written = archived.stat().st_mtime_ns

    again = route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "b.dcm")))
    assert again is not None and again.status == "dropped"
    assert archived.stat().st_mtime_ns == written
    assert _rows(runtime, "SELECT error_class, status FROM exception_logs") == [("Dropped", "resolved")]

    # Changed content under the same SOP Instance UID is not a re-send: it is routed.
    ds.StudyDescription = "CORRECTED"
    changed = route_instance(
        runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "c.dcm"))
    )
    assert changed is not None and changed.status == InstanceStatus.DELIVERED
    assert len(_rows(runtime, "SELECT DISTINCT content_hash FROM deliveries")) == 2


def test_with_on_duplicate_send_a_resent_instance_is_delivered_again(
    runtime: Runtime, tmp_path: Path
) -> None:
    config = _config()
    config["destinations"][0]["on_duplicate"] = "send"
    apply_dict(runtime, config, tmp_path)
    ds = make_dataset()
    for name in ("a", "b"):
        outcome = route_instance(
            runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / name))
        )
        assert outcome is not None and outcome.delivered == ["archive"]


def test_ledger_tracks_each_destination_and_follows_the_retry(runtime: Runtime, tmp_path: Path) -> None:
    from tests.support.dcmtk import free_port

    apply_dict(runtime, _config(pacs_port=free_port()), tmp_path)
    route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, make_dataset(), tmp_path / "a")))
    rows = _rows(runtime, "SELECT destination, status, exception_id FROM deliveries ORDER BY destination")
    assert [r[:2] for r in rows] == [("archive", "delivered"), ("pacs", "failed")]
    exception_id = rows[1][2]
    assert exception_id is not None

    # The peer is still absent; once the destination points at a working one, the retry flips the row.
    config = _config(pacs_port=free_port())
    config["destinations"][1] = {"name": "pacs", "type": "filesystem"}
    apply_dict(runtime, config, tmp_path)
    assert retry_delivery(runtime, exception_id).state == "delivered"
    assert _rows(runtime, "SELECT status FROM deliveries WHERE destination = 'pacs'") == [("delivered",)]
