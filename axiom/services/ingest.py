"""Ingest: how an instance enters Axiom, whoever brought it (the C-STORE listener, a C-GET, a
DICOMweb poll). Check it, spool it atomically, publish its task with confirms; only then is it
acknowledged. A refused payload gets an exception row pointing at its quarantined copy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.repositories import exceptions as exception_repo
from axiom.dicom.spool import Spool
from axiom.dicom.validate import InvalidDataset, check_encoded_dataset
from axiom.domain.messages import InstanceMessage
from axiom.services.ports import TaskPublisher

log = structlog.get_logger("axiom.ingest")

SUCCESS = 0x0000
OUT_OF_RESOURCES_SPOOL = 0xA700
OUT_OF_RESOURCES_QUEUE = 0xA701

# Called with (quarantined path, reason, SOP Instance UID, calling AE) when a payload is refused.
RefusalRecorder = Callable[[Path, str, str, str], None]


class RefusalLog:
    def __init__(self, sessions: sessionmaker[Session], source: str = "listener") -> None:
        self.sessions = sessions
        self.source = source

    def __call__(self, kept: Path, reason: str, sop_instance_uid: str, calling_ae: str) -> None:
        with self.sessions() as session:
            exception_repo.add_exception(
                session,
                stage="ingest",
                error_class="InvalidDataset",
                message=f"refused from {self.source} (calling AE {calling_ae!r}): {reason}",
                sop_instance_uid=sop_instance_uid,
                study_instance_uid="",
                file_path=str(kept),
            )
            session.commit()


@dataclass(frozen=True)
class Arrival:
    """One encoded dataset (no File Meta) and what is known about how it came."""

    meta: FileMetaDataset
    data: bytes | memoryview
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: UID
    calling_ae: str
    called_ae: str


class Ingestor:
    """Check, spool, publish: the one path every arrival takes. Returns a DICOM status (0 = taken)."""

    def __init__(
        self, spool: Spool, publisher: TaskPublisher, record_refusal: RefusalRecorder, source: str
    ) -> None:
        self.spool = spool
        self.publisher = publisher
        self.record_refusal = record_refusal
        self.source = source

    def __call__(self, arrival: Arrival) -> int:
        meta = arrival.meta
        meta.SendingApplicationEntityTitle = arrival.calling_ae
        meta.ReceivingApplicationEntityTitle = arrival.called_ae
        try:
            check_encoded_dataset(arrival.data, arrival.transfer_syntax, arrival.sop_class_uid)
        except InvalidDataset as exc:
            return self._refuse(arrival, exc)

        try:
            path = self.spool.write(meta, arrival.data)
        except OSError as exc:
            log.error(
                "spool write failed", sop_instance_uid=arrival.sop_instance_uid, error=type(exc).__name__
            )
            return OUT_OF_RESOURCES_SPOOL

        message = InstanceMessage(
            spool_path=str(path),
            sop_instance_uid=arrival.sop_instance_uid,
            sop_class_uid=arrival.sop_class_uid,
            transfer_syntax_uid=str(arrival.transfer_syntax),
            calling_ae=arrival.calling_ae,
            called_ae=arrival.called_ae,
            source=self.source,
            received_at=datetime.now(UTC).isoformat(),
            size_bytes=len(arrival.data),
        )
        try:
            self.publisher.publish_instance(message)
        except Exception as exc:
            # Not confirmed by the broker: take the file back so nothing half-done stays behind,
            # and let the sender retry.
            self.spool.remove(path)
            log.error("publish failed", sop_instance_uid=arrival.sop_instance_uid, error=type(exc).__name__)
            return OUT_OF_RESOURCES_QUEUE
        return SUCCESS

    def _refuse(self, arrival: Arrival, exc: InvalidDataset) -> int:
        sop_uid = arrival.sop_instance_uid
        try:
            kept = self.spool.quarantine_bytes(arrival.meta, arrival.data)
            self.record_refusal(kept, str(exc), sop_uid, arrival.calling_ae)
        except Exception as record_exc:
            log.error("quarantine failed", sop_instance_uid=sop_uid, error=type(record_exc).__name__)
            return OUT_OF_RESOURCES_SPOOL
        log.warning(
            "refused invalid dataset", sop_instance_uid=sop_uid, reason=str(exc), status=hex(exc.status)
        )
        return exc.status
