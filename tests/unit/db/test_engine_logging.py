"""A failed statement never logs its bound values (a PatientID, a crosswalk key): every engine Axiom
makes has ``hide_parameters``, and PostgreSQL's DETAIL ("Failing row contains ...") is cut, on
SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from axiom.db.session import create_db_engine

SECRET_MRN = "MRN-0042-SMITH"
ROOT = Path(__file__).resolve().parents[3]


def test_a_failed_statement_logs_no_bound_value(
    migrated_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_db_engine(migrated_db_url)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    log = logging.getLogger("axiom.test")
    try:
        with engine.connect() as conn:
            # No dicom_series row 999999: the foreign key fails the insert with its values bound.
            conn.execute(
                text(
                    "INSERT INTO dicom_instances (sop_instance_uid, series_id, status, received_count)"
                    " VALUES (:uid, 999999, 'received', 1)"
                ),
                {"uid": SECRET_MRN},
            )
    except SQLAlchemyError as exc:
        # With the traceback, as log.exception writes it: the driver's error is its direct cause.
        log.error("statement failed: %s", exc, exc_info=True)
    else:
        pytest.fail("the insert should have failed")
    finally:
        engine.dispose()
    assert "statement failed" in caplog.text and "hide_parameters" in caplog.text
    assert "dicom_instances" in caplog.text  # the statement itself is still there to debug with
    assert SECRET_MRN not in caplog.text


def test_no_engine_is_made_outside_the_factory() -> None:
    """``axiom.db.session.make_engine`` is the one place that calls ``create_engine``."""
    calls = [
        str(path.relative_to(ROOT))
        for folder in ("axiom", "api", "cli", "workers", "beat")
        for path in (ROOT / folder).rglob("*.py")
        if re.search(r"\bcreate_(async_)?engine\(", path.read_text())
    ]
    assert calls == ["axiom/db/session.py"]
