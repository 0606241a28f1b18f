"""The batched route (issue 17) through real SQLite, a real spool and real filesystem destinations:
the same outcome as one instance at a time, a few statements per batch instead of dozens per
instance (counted with SQLAlchemy's cursor hook so they do not creep back), and a batch that fails
half-way replays through the ledger without a second delivery."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from sqlalchemy import event, text

from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.route_batch import route_batch
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.db.databases import BACKENDS, fresh_database
from tests.unit.pipeline.test_route import _spool_dataset

N = 50
# What one batch of N instances to one destination may cost, in SQL statements, all stages together.
MAX_STATEMENTS_PER_INSTANCE = 0.5


def _config(*rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "destinations": [{"name": "archive", "type": "filesystem"}, {"name": "second", "type": "filesystem"}],
        "rulesets": [
            {"name": "main", "rules": list(rules) or [{"name": "all", "destinations": ["archive"]}]}
        ],
    }


@pytest.fixture(params=BACKENDS)
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    """The batch's statements are built once per dialect: each test runs on SQLite and PostgreSQL."""
    if request.param == "sqlite":
        with fresh_runtime(tmp_path / "data") as rt:
            yield rt
        return
    with (
        fresh_database("postgresql", tmp_path) as url,
        fresh_runtime(tmp_path / "data", database_url=url) as rt,
    ):
        yield rt


def _series(runtime: Runtime, tmp_path: Path, n: int = N, **fields: Any) -> list[InstanceMessage]:
    study, series = generate_uid(), generate_uid()
    messages = []
    for number in range(1, n + 1):
        ds = make_dataset(study_uid=study, series_uid=series, instance_number=number, series_size=n)
        for key, value in fields.items():
            setattr(ds, key, value)
        messages.append(message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / f"{number}.dcm")))
    return messages


def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _files(runtime: Runtime, name: str) -> list[Path]:
    return sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))


@contextmanager
def counted_statements(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(None, 1)[0].upper())

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)


def test_a_batch_is_delivered_and_recorded_like_single_instances(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config(), tmp_path)
    messages = _series(runtime, tmp_path)

    outcomes = route_batch(runtime, messages)

    assert [o.status if o else None for o in outcomes] == [InstanceStatus.DELIVERED] * N
    assert all(o is not None and o.delivered == ["archive"] for o in outcomes)
    delivered = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in _files(runtime, "archive")}
    assert delivered == {m.sop_instance_uid for m in messages}
    assert _rows(runtime, "SELECT status, count(*) FROM dicom_instances GROUP BY status") == [
        ("delivered", N)
    ]
    assert _rows(runtime, "SELECT instance_count FROM dicom_series") == [(N,)]
    assert _rows(runtime, "SELECT instance_count FROM dicom_studies") == [(N,)]
    assert _rows(runtime, "SELECT count(*) FROM deliveries WHERE status = 'delivered'") == [(N,)]
    assert _rows(runtime, "SELECT count(*) FROM instance_headers") == [(N,)]
    assert list(runtime.settings.spool_dir.iterdir()) == []


def test_statements_per_instance_stay_few(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(runtime, _config(), tmp_path)
    runtime.config()  # the configuration is loaded once per change, not per batch
    messages = _series(runtime, tmp_path)

    with counted_statements(runtime) as statements:
        route_batch(runtime, messages)

    assert len(_files(runtime, "archive")) == N
    per_instance = len(statements) / N
    assert per_instance <= MAX_STATEMENTS_PER_INSTANCE, statements


def test_one_at_a_time_costs_many_more_statements(runtime: Runtime, tmp_path: Path) -> None:
    # The yardstick for the test above: the single-instance route of the same work.
    apply_dict(runtime, _config(), tmp_path)
    runtime.config()
    messages = _series(runtime, tmp_path, n=5)
    with counted_statements(runtime) as statements:
        for message in messages:
            route_instance(runtime, message)
    assert len(statements) / 5 > 10 * MAX_STATEMENTS_PER_INSTANCE


def test_holds_and_reroutes_in_a_batch_end_as_they_would_alone(runtime: Runtime, tmp_path: Path) -> None:
    hold_mr = {
        "name": "hold-mr",
        "when": {"tag": "Modality", "equals": "MR"},
        "actions": [{"quarantine": {"reason": "MR held"}}],
    }
    apply_dict(
        runtime,
        _config(
            hold_mr, {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["archive"]}
        ),
        tmp_path,
    )
    for kind in ("ct", "mr", "us"):
        (tmp_path / kind).mkdir()
    cts = _series(runtime, tmp_path / "ct", n=3)
    mrs = _series(runtime, tmp_path / "mr", n=2, Modality="MR")
    us = _series(runtime, tmp_path / "us", n=1, Modality="US")
    gone = dataclasses.replace(cts[0], spool_path=str(runtime.settings.spool_dir / "1-gone.dcm"))

    outcomes = route_batch(runtime, [*cts, *mrs, *us, gone])

    statuses = [o.status if o else None for o in outcomes]
    assert statuses == [InstanceStatus.DELIVERED] * 3 + [InstanceStatus.QUARANTINED] * 2 + [
        InstanceStatus.NO_MATCH,
        None,
    ]
    assert len(_files(runtime, "archive")) == 3
    assert _rows(
        runtime, "SELECT error_class, count(*) FROM exception_logs GROUP BY error_class ORDER BY 1"
    ) == [
        ("NoMatchingRule", 1),
        ("RuleQuarantine", 2),
    ]


_FAILING_STATUS_TRIGGER = {
    "sqlite": [
        "CREATE TRIGGER fail_status BEFORE UPDATE OF status ON dicom_instances "
        "BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END"
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION fail_status() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'disk I/O error (test)'; END $$",
        "CREATE TRIGGER fail_status BEFORE UPDATE OF status ON dicom_instances "
        "FOR EACH ROW EXECUTE FUNCTION fail_status()",
    ],
}


def test_a_batch_that_fails_before_its_statuses_replays_without_a_second_delivery(
    runtime: Runtime, tmp_path: Path
) -> None:
    apply_dict(runtime, _config({"name": "both", "destinations": ["archive", "second"]}), tmp_path)
    messages = _series(runtime, tmp_path, n=10)
    # The last transaction of the batch fails inside the database (a real database error), as a
    # crash or a database blip after the sends would leave it: delivered, ledger committed, statuses not.
    with runtime.engine.begin() as conn:
        for statement in _FAILING_STATUS_TRIGGER[conn.dialect.name]:
            conn.execute(text(statement))
    failed: list[InstanceMessage] = []
    outcomes = route_batch(runtime, messages, on_error=failed.append)
    assert outcomes == [None] * 10 and failed == messages  # each handed on for a retry of its own
    written = {p: p.stat().st_mtime_ns for p in _files(runtime, "archive") + _files(runtime, "second")}
    assert len(written) == 20
    with runtime.engine.begin() as conn:
        drop = "DROP TRIGGER fail_status" + (
            " ON dicom_instances" if conn.dialect.name == "postgresql" else ""
        )
        conn.execute(text(drop))

    again = route_batch(runtime, messages)

    assert [o.status if o else None for o in again] == [InstanceStatus.DELIVERED] * 10
    assert all(o is not None and o.delivered == [] for o in again)  # the ledger had them all
    assert {
        p: p.stat().st_mtime_ns for p in _files(runtime, "archive") + _files(runtime, "second")
    } == written
    assert _rows(runtime, "SELECT count(*) FROM deliveries") == [(20,)]


def test_a_resend_in_the_same_batch_is_a_re_receipt_and_a_skipped_duplicate(
    runtime: Runtime, tmp_path: Path
) -> None:
    apply_dict(runtime, _config(), tmp_path)
    ds = make_dataset()
    first = message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "a.dcm"))
    assert route_batch(runtime, [first])[0] is not None
    resent = message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "b.dcm"))

    (outcome,) = route_batch(runtime, [resent])

    assert outcome is not None and outcome.skipped == ["archive"] and outcome.delivered == []
    assert len(_files(runtime, "archive")) == 1
    assert _rows(runtime, "SELECT received_count, status FROM dicom_instances") == [(2, "delivered")]
    assert _rows(runtime, "SELECT skipped_count FROM deliveries") == [(1,)]


def test_a_batch_of_one_patient_records_its_pseudonym_once(runtime: Runtime, tmp_path: Path) -> None:
    apply_dict(
        runtime,
        _config(
            {"name": "all", "destinations": ["archive"], "actions": [{"anonymize": {"profile": "basic"}}]}
        ),
        tmp_path,
    )
    messages = _series(runtime, tmp_path, n=20, PatientID="PAT-1", PatientName="Doe^Jane")
    touching: list[str] = []

    def on_pseudonyms(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "pseudonyms" in statement:
            touching.append(statement.split(None, 1)[0].upper())

    event.listen(runtime.engine, "before_cursor_execute", on_pseudonyms)
    try:
        outcomes = route_batch(runtime, messages)
    finally:
        event.remove(runtime.engine, "before_cursor_execute", on_pseudonyms)

    assert [o.status if o else None for o in outcomes] == [InstanceStatus.DELIVERED] * 20
    assert {str(dcmread(p).PatientID) for p in _files(runtime, "archive")} != {"PAT-1"}
    assert _rows(runtime, "SELECT count(*), min(original_patient_id) FROM pseudonyms") == [(1, "PAT-1")]
    # One look-up and one insert for the whole batch, not a look-up and an update per instance.
    assert touching == ["SELECT", "INSERT"]
