"""Received values that do not fit or parse never turn an instance into an endless re-delivery loop
(issue 15, item 2): through route_instance on real SQLite and PostgreSQL, a real spool and a real
filesystem destination."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag
from sqlalchemy import Engine, text

from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

ARCHIVE = {
    "destinations": [{"name": "archive", "type": "filesystem"}],
    "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["archive"]}]}],
}


@pytest.fixture
def runtime(migrated_db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime on each backend (the ``engine`` fixture empties the shared database first)."""
    with fresh_runtime(
        tmp_path / "data", database_url=migrated_db_url, header_retention_days=1, route_max_attempts=3
    ) as rt:
        apply_dict(rt, ARCHIVE, tmp_path)
        yield rt


def _rows(runtime: Runtime, sql: str) -> list[tuple[Any, ...]]:
    with runtime.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _archived(runtime: Runtime) -> list[Path]:
    return sorted((runtime.settings.destinations_root / "archive").rglob("*.dcm"))


def test_over_long_values_are_cut_to_their_columns_and_kept_raw(runtime: Runtime, tmp_path: Path) -> None:
    ds = make_dataset()
    ds.StudyDate = "20240115-20240116"
    ds.Modality = "SEVENTEEN_CHARSXX"
    spooled = _spool_dataset(runtime, ds, tmp_path / "long.dcm")

    outcome = route_instance(runtime, message_for_spooled_file(spooled))

    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert len(_archived(runtime)) == 1 and not spooled.exists()
    assert _rows(runtime, "SELECT study_date FROM dicom_studies") == [("20240115",)]
    assert _rows(runtime, "SELECT modality FROM dicom_series") == [("SEVENTEEN_CHARSX",)]
    ((raw,),) = _rows(runtime, "SELECT raw_values FROM dicom_instances")
    raw = raw if isinstance(raw, dict) else json.loads(raw)
    assert raw == {"StudyDate": "20240115-20240116", "Modality": "SEVENTEEN_CHARSXX"}


def test_an_unparsable_number_is_recorded_as_raw_text(runtime: Runtime, tmp_path: Path) -> None:
    ds = make_dataset()
    ds[0x00280008] = RawDataElement(Tag(0x00280008), "IS", 2, b"1A", 0, False, True)  # NumberOfFrames
    spooled = _spool_dataset(runtime, ds, tmp_path / "frames.dcm")

    outcome = route_instance(runtime, message_for_spooled_file(spooled))

    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert len(_archived(runtime)) == 1 and not spooled.exists()
    assert len(_rows(runtime, "SELECT instance_id FROM instance_headers")) == 1
    ((raw,),) = _rows(runtime, "SELECT raw_values FROM dicom_instances")
    raw = raw if isinstance(raw, dict) else json.loads(raw)
    assert raw == {"NumberOfFrames": "1A"}


def _fail_inserts(runtime: Runtime, table: str) -> None:
    """Every INSERT into ``table`` fails inside the database from now on: a poison we cannot fix."""
    with runtime.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(
                text(
                    f"CREATE TRIGGER poison BEFORE INSERT ON {table} BEGIN SELECT RAISE(ABORT, 'poison'); END"
                )
            )
            return
        conn.execute(
            text(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'poison'; END $$ LANGUAGE plpgsql"
            )
        )
        conn.execute(
            text(f"CREATE TRIGGER poison BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION poison()")
        )


def _drop_poison(runtime: Runtime, table: str) -> None:
    with runtime.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER poison"))
        else:
            conn.execute(text(f"DROP TRIGGER poison ON {table}"))
            conn.execute(text("DROP FUNCTION poison()"))


@pytest.mark.parametrize("table", ["dicom_instances", "deliveries"])
def test_attempts_are_bounded_then_the_instance_is_a_dead_exception(
    runtime: Runtime, tmp_path: Path, table: str
) -> None:
    """A failure to record, before delivery (the instance row) or after it (the ledger row)."""
    spooled = _spool_dataset(runtime, make_dataset(), tmp_path / "poison.dcm")
    message = message_for_spooled_file(spooled)
    _fail_inserts(runtime, table)
    try:
        for _ in range(2):
            with pytest.raises(Exception, match="poison"):
                route_instance(runtime, message)
        assert _rows(runtime, "SELECT attempts FROM route_attempts") == [(2,)]
        outcome = route_instance(runtime, message)  # the third failure: held, not raised
        assert outcome is not None and outcome.status == InstanceStatus.QUARANTINED
        assert route_instance(runtime, message) is None  # a sweep or a retry finds nothing to send
    finally:
        _drop_poison(runtime, table)

    ((stage, status, file_path, attempts),) = _rows(
        runtime, "SELECT stage, status, file_path, attempts FROM exception_logs"
    )
    assert (stage, status, attempts) == ("route", "dead", 3)
    assert Path(file_path).exists() and not spooled.exists()
    assert _rows(runtime, "SELECT attempts FROM route_attempts") == []
    # Recorded before delivery: a poisoned instance row means nothing was ever sent.
    assert len(_archived(runtime)) == (0 if table == "dicom_instances" else 1)
