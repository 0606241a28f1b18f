"""``axiom exceptions list|retry|discard`` as an admin runs them, against a real Orthanc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.retry import retry_delivery
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.orthanc import Orthanc
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    with fresh_runtime(tmp_path / "data") as rt:
        yield rt


def _cli(runtime: Runtime, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AXIOM_DATA_DIR": str(runtime.settings.data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "exceptions", *args], env=env, capture_output=True, text=True
    )


def _listed(runtime: Runtime, *filters: str) -> list[dict[str, Any]]:
    result = _cli(runtime, "list", "-o", "json", *filters)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def _route(runtime: Runtime, tmp_path: Path, name: str) -> str:
    ds = make_dataset(modality="CT")
    route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / f"{name}.dcm")))
    return str(ds.SOPInstanceUID)


def _status(runtime: Runtime, exception_id: int) -> str:
    with runtime.engine.connect() as conn:
        return str(
            conn.execute(text(f"SELECT status FROM exception_logs WHERE id = {exception_id}")).scalar()
        )


def _route_all_to_stopped_orthanc(runtime: Runtime, orthanc: Orthanc, folder: Path, **pacs: Any) -> None:
    """One rule sending everything to ``pacs`` (the Orthanc, with ``pacs`` overrides), then Orthanc stops."""
    destination = {
        "name": "pacs",
        "type": "cstore",
        "host": "127.0.0.1",
        "port": orthanc.dicom_port,
        "ae_title": "ORTHANC",
        **pacs,
    }
    rules = [{"name": "m", "rules": [{"name": "all", "destinations": ["pacs"]}]}]
    apply_dict(runtime, {"destinations": [destination], "rulesets": rules}, folder)
    orthanc.stop()


def test_failed_delivery_is_listed_and_retried_once_the_peer_is_back(
    runtime: Runtime, orthanc: Orthanc, tmp_path: Path
) -> None:
    _route_all_to_stopped_orthanc(runtime, orthanc, tmp_path)
    uid = _route(runtime, tmp_path, "a")

    (row,) = _listed(runtime, "--destination", "pacs", "--status", "open")
    assert (row["stage"], row["sop_instance_uid"], row["attempts"]) == ("deliver", uid, 1)
    assert _listed(runtime, "--status", "dead") == []

    orthanc.start()
    result = _cli(runtime, "retry", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert f"{row['id']}: delivered" in result.stdout
    assert orthanc.instance_uids() == {uid}
    assert _status(runtime, row["id"]) == "resolved"
    # A resolved row is not acted on again.
    again = _cli(runtime, "retry", str(row["id"]))
    assert again.returncode == 1 and "only open or dead rows" in again.stderr


def test_held_instance_is_routed_again_after_the_rules_changed(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(
        runtime, {"destinations": [{"name": "archive", "type": "filesystem"}], "rulesets": []}, tmp_path
    )
    uid = _route(runtime, tmp_path, "b")
    (row,) = _listed(runtime, "--stage", "route")
    assert row["error_class"] == "NoMatchingRule"

    apply_dict(
        runtime,
        {
            "destinations": [{"name": "archive", "type": "filesystem"}],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        },
        tmp_path,
    )
    result = _cli(runtime, "retry", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert "routed: delivered" in result.stdout
    (delivered,) = (runtime.settings.destinations_root / "archive").rglob("*.dcm")
    assert uid in delivered.name
    assert _status(runtime, row["id"]) == "resolved"
    assert list(runtime.settings.quarantine_dir.iterdir()) == []


def test_discard_marks_the_row_and_deletes_the_copy(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(
        runtime, {"destinations": [{"name": "archive", "type": "filesystem"}], "rulesets": []}, tmp_path
    )
    _route(runtime, tmp_path, "c")
    (row,) = _listed(runtime)
    with runtime.engine.connect() as conn:
        held = Path(
            str(conn.execute(text(f"SELECT file_path FROM exception_logs WHERE id = {row['id']}")).scalar())
        )
    assert held.exists()

    result = _cli(runtime, "discard", str(row["id"]))
    assert result.returncode == 0, result.stderr
    assert _status(runtime, row["id"]) == "discarded"
    assert not held.exists()
    assert _cli(runtime, "discard", "999").returncode == 1


def test_circuit_breaker_stops_trying_a_dead_peer_then_probes_it(
    runtime: Runtime, orthanc: Orthanc, tmp_path: Path
) -> None:
    breaker = {"failures": 2, "cooldown_seconds": 2}
    _route_all_to_stopped_orthanc(runtime, orthanc, tmp_path, circuit_breaker=breaker)
    uids = [_route(runtime, tmp_path, f"cb{i}") for i in range(3)]
    opened = time.monotonic()
    assert runtime.guard.breaker(runtime.config().destination_configs["pacs"]).state == "open"

    rows = sorted(_listed(runtime, "--destination", "pacs"), key=lambda r: r["id"])
    assert [r["sop_instance_uid"] for r in rows] == uids
    # Two real attempts opened the circuit; the third instance was not tried, only recorded.
    assert [r["error_class"] for r in rows][2] == "CircuitOpen"
    assert all(r["error_class"] != "CircuitOpen" for r in rows[:2])

    orthanc.start()
    time.sleep(max(0.0, 2.1 - (time.monotonic() - opened)))
    # After the cool-down the probe goes through, succeeds and closes the circuit for the rest.
    assert retry_delivery(runtime, rows[2]["id"]).state == "delivered"
    assert runtime.guard.breaker(runtime.config().destination_configs["pacs"]).state == "closed"
    for row in rows[:2]:
        assert retry_delivery(runtime, row["id"]).state == "delivered"
    assert orthanc.instance_uids() == set(uids)


def test_an_open_circuit_postpones_retries_without_using_attempts(
    runtime: Runtime, orthanc: Orthanc, tmp_path: Path
) -> None:
    breaker = {"failures": 1, "cooldown_seconds": 30}
    _route_all_to_stopped_orthanc(runtime, orthanc, tmp_path, circuit_breaker=breaker)
    _route(runtime, tmp_path, "x")
    _route(runtime, tmp_path, "y")
    (_, second) = sorted(r["id"] for r in _listed(runtime))
    for _ in range(runtime.settings.retry_max_attempts + 2):
        outcome = retry_delivery(runtime, second)
        assert outcome.state == "retry" and outcome.next_delay is not None and outcome.next_delay > 25
    (row,) = [r for r in _listed(runtime) if r["id"] == second]
    assert (row["status"], row["attempts"], row["error_class"]) == ("open", 1, "CircuitOpen")
