"""A failed statement never logs its bound values (a PatientID, a crosswalk key): every engine Axiom
makes has ``hide_parameters``, on SQLite and PostgreSQL."""

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
            # dicom_instances.sop_instance_uid is NOT NULL: the insert fails with its values bound.
            conn.execute(
                text("INSERT INTO dicom_instances (sop_instance_uid, modality) VALUES (NULL, :m)"),
                {"m": SECRET_MRN},
            )
    except SQLAlchemyError as exc:
        log.error("statement failed: %s", exc)
    else:
        pytest.fail("the insert should have failed")
    finally:
        engine.dispose()
    assert "statement failed" in caplog.text and "hide_parameters" in caplog.text
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
