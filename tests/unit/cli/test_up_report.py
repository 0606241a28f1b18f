"""``axiom up``'s terminal lines: a study is one line however many instances it has, per destination;
every failure is a line of its own, at once."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from axiom.db.repositories.instances import upsert_instance
from axiom.domain.instances import InstanceStatus
from cli.up_report import QUIET_SECONDS, StudyReport


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _instance(session: Session, study: str, sop: str) -> None:
    upsert_instance(
        session,
        study_instance_uid=study,
        series_instance_uid=f"{study}.1",
        sop_instance_uid=sop,
        sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
        modality="CT",
        transfer_syntax_uid="1.2.840.10008.1.2.1",
        patient_id_hash=None,
        study_date=None,
        calling_ae="CT01",
        called_ae="AXIOM",
        source="dimse",
        spool_path=None,
        size_bytes=1,
        status=InstanceStatus.RECEIVED,
    )


def test_one_line_per_study_and_destination_and_every_failure(engine: Engine, session: Session) -> None:
    for n in range(3):
        _instance(session, "1.2.3", f"1.2.3.1.{n}")
    _instance(session, "1.2.4", "1.2.4.1.0")
    session.commit()
    clock = Clock()
    report = StudyReport(engine, clock=clock)
    report.feed([{"event": "instance.routed", "sop_instance_uid": f"1.2.3.1.{n}"} for n in range(3)])
    report.feed([{"event": "instance.delivered", "sop_instance_uid": "1.2.3.1.0", "destination": "pacs"}])
    report.feed(
        [
            {
                "event": "instance.failed",
                "sop_instance_uid": "1.2.4.1.0",
                "destination": "pacs",
                "error": "Refused",
            }
        ]
    )
    assert report.flush() == ["FAILED     instance 1.2.4.1.0 at pacs: Refused"]  # at once
    clock.now += QUIET_SECONDS / 2
    report.feed([{"event": "instance.delivered", "sop_instance_uid": "1.2.3.1.1", "destination": "pacs"}])
    assert report.flush() == []  # the study is still arriving
    clock.now += QUIET_SECONDS
    assert sorted(report.flush()) == [
        "delivered  study 1.2.3 to pacs: 2 instances",
        "received   study 1.2.3: 3 instances from CT01",
    ]
    assert report.flush() == []


def test_an_instance_without_a_row_is_reported_in_the_end(engine: Engine) -> None:
    clock = Clock()
    report = StudyReport(engine, clock=clock)
    report.feed([{"event": "instance.routed", "sop_instance_uid": "9.9"}])
    clock.now += QUIET_SECONDS
    assert report.flush() == []  # its row may still come
    clock.now += 60
    report.flush()
    clock.now += QUIET_SECONDS
    assert report.flush() == ["received   study (unknown, instance 9.9): 1 instance"]
