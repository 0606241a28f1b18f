"""What the database learns about one routed instance, written before anything is delivered.

Every value goes through ``instance_values`` first, so no received value can make the write fail
(which would fail on every retry); what did not fit or parse is kept as received in ``raw_values``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydicom import Dataset
from sqlalchemy.orm import Session

from axiom.db.repositories import instances as instance_repo
from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.logging import phi_hash
from axiom.services.header_retention import received_header, store_received_header
from axiom.services.instance_values import (
    AE_LENGTH,
    MODALITY_LENGTH,
    SOURCE_LENGTH,
    STUDY_DATE_LENGTH,
    Fitted,
    raw_text,
)


@dataclass
class InstanceRecord:
    message: InstanceMessage
    dataset: Dataset
    matched: list[str]
    destinations: list[str]
    # Keep the received header (no bulk data) for replay: header_retention_days > 0.
    keep_header: bool = False

    @property
    def study_uid(self) -> str:
        return raw_text(self.dataset, "StudyInstanceUID")

    def save(self, session: Session, status: InstanceStatus, error: str | None = None) -> int:
        ds, message = self.dataset, self.message
        fitted = Fitted()
        header, unparsed = received_header(ds) if self.keep_header else ({}, {})
        modality = fitted.fit("Modality", raw_text(ds, "Modality"), MODALITY_LENGTH)
        study_date = fitted.fit("StudyDate", raw_text(ds, "StudyDate"), STUDY_DATE_LENGTH)
        calling_ae = fitted.fit("calling_ae", message.calling_ae, AE_LENGTH)
        called_ae = fitted.fit("called_ae", message.called_ae, AE_LENGTH)
        source = fitted.fit("source", message.source, SOURCE_LENGTH)
        instance = instance_repo.upsert_instance(
            session,
            study_instance_uid=self.study_uid,
            series_instance_uid=raw_text(ds, "SeriesInstanceUID"),
            sop_instance_uid=message.sop_instance_uid,
            sop_class_uid=message.sop_class_uid,
            modality=modality,
            transfer_syntax_uid=message.transfer_syntax_uid,
            patient_id_hash=phi_hash(raw_text(ds, "PatientID")),
            study_date=study_date,
            calling_ae=calling_ae,
            called_ae=called_ae,
            source=source,
            spool_path=message.spool_path,
            size_bytes=message.size_bytes,
            status=status,
            matched_rules=self.matched,
            destinations=self.destinations,
            error=error,
            raw_values={**fitted.raw, **unparsed} or None,
        )
        if self.keep_header:
            store_received_header(session, instance.id, header, datetime.fromisoformat(message.received_at))
        return instance.id
