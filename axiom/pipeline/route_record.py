"""What the database knows of an instance before routing it, and what it learns about it, written
before anything is delivered.

Every value goes through ``instance_values`` first, so no received value can make the write fail
(which would fail on every retry); what did not fit or parse is kept as received in ``raw_values``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydicom import Dataset
from sqlalchemy.orm import Session

from axiom.ai.inference import stored_results
from axiom.db.models import DeliveryStatus
from axiom.db.repositories import deliveries as delivery_repo
from axiom.db.repositories import instances as instance_repo
from axiom.db.repositories import route_attempts as attempt_repo
from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.header_retention import encoded_header, store_received_header, unparsed_values
from axiom.pipeline.instance_values import (
    ACCESSION_LENGTH,
    AE_LENGTH,
    MODALITY_LENGTH,
    SOURCE_LENGTH,
    STUDY_DATE_LENGTH,
    Fitted,
    raw_text,
)
from axiom.pipeline.runtime import Runtime
from rules.model import InferenceResult


@dataclass
class InstanceRecord:
    message: InstanceMessage
    dataset: Dataset
    matched: list[str]
    destinations: list[str]
    # Keep the received header (no bulk data) for replay: header_retention_days > 0.
    keep_header: bool = False
    # HMAC of the PatientID with the deployment secret (Runtime.patient_id_hash).
    patient_id_hash: str | None = None
    # The spooled file as received (its header is kept for replay when keep_header).
    part10: bytes = field(default=b"", repr=False)

    @property
    def study_uid(self) -> str:
        return raw_text(self.dataset, "StudyInstanceUID")

    def values(self, status: InstanceStatus, error: str | None = None) -> dict[str, Any]:
        """The instance row's values (``upsert_instance``'s keyword arguments), each cut to its
        column; what did not fit or parse is kept as received in ``raw_values``."""
        ds, message = self.dataset, self.message
        fitted = Fitted()
        unparsed = unparsed_values(ds)
        return {
            "study_instance_uid": self.study_uid,
            "series_instance_uid": raw_text(ds, "SeriesInstanceUID"),
            "sop_instance_uid": message.sop_instance_uid,
            "sop_class_uid": message.sop_class_uid,
            "modality": fitted.fit("Modality", raw_text(ds, "Modality"), MODALITY_LENGTH),
            "transfer_syntax_uid": message.transfer_syntax_uid,
            "patient_id_hash": self.patient_id_hash,
            "study_date": fitted.fit("StudyDate", raw_text(ds, "StudyDate"), STUDY_DATE_LENGTH),
            "calling_ae": fitted.fit("calling_ae", message.calling_ae, AE_LENGTH),
            "called_ae": fitted.fit("called_ae", message.called_ae, AE_LENGTH),
            "source": fitted.fit("source", message.source, SOURCE_LENGTH),
            "accession_number": fitted.fit(
                "AccessionNumber", raw_text(ds, "AccessionNumber"), ACCESSION_LENGTH
            ),
            "spool_path": message.spool_path,
            "size_bytes": message.size_bytes,
            "status": status,
            "matched_rules": self.matched,
            "destinations": self.destinations,
            "error": error,
            "raw_values": {**fitted.raw, **unparsed} or None,
        }

    def header(self) -> bytes:
        """The received header kept for replay: the spooled file up to Pixel Data."""
        return encoded_header(self.part10, self.dataset)

    def save(self, session: Session, status: InstanceStatus, error: str | None = None) -> int:
        instance = instance_repo.upsert_instance(session, **self.values(status, error))
        if self.keep_header and self.part10:
            received_at = datetime.fromisoformat(self.message.received_at)
            store_received_header(session, instance.id, self.header(), received_at)
        return instance.id


@dataclass(frozen=True)
class RouteHistory:
    """What the database knows of this instance before routing it (one short read)."""

    # Instances of this series recorded so far, plus this one (0 when no rule reads it).
    series_count: int
    # The same SOP Instance UID and content was delivered before, from another arrival.
    resent: bool
    # Destinations the ledger holds for this very arrival: a rerun after a crash.
    done_by_this_arrival: frozenset[str]
    # Of those, the ones whose send failed (an exception row retries each).
    failed_by_this_arrival: frozenset[str] = frozenset()
    # What each destination got of this content before (any arrival), by destination.
    priors: dict[str, delivery_repo.Prior] = field(default_factory=dict)
    # Earlier attempts to route this arrival that failed (route_attempts).
    failed_attempts: int = 0
    # Stored model results for this content (read only when a rule runs a model or reads a result).
    inference: dict[str, InferenceResult] = field(default_factory=dict)

    @classmethod
    def read(
        cls,
        runtime: Runtime,
        message: InstanceMessage,
        dataset: Dataset,
        content_hash: str,
        count: bool,
        inference: bool = False,
    ) -> RouteHistory:
        with runtime.sessions() as session:
            series = str(dataset.get("SeriesInstanceUID", ""))
            recorded = instance_repo.series_instance_count(session, series) + 1 if count else 0
            prior = delivery_repo.prior_deliveries(session, message.sop_instance_uid, content_hash)
            results = stored_results(session, message.sop_instance_uid, content_hash) if inference else {}
            failed = attempt_repo.failed_attempts(session, message.spool_path)
        return cls.of(message, prior, failed, series_count=recorded, inference=results)

    @classmethod
    def of(
        cls,
        message: InstanceMessage,
        prior: list[delivery_repo.Prior],
        failed: int,
        *,
        series_count: int = 0,
        inference: dict[str, InferenceResult] | None = None,
    ) -> RouteHistory:
        """From the ledger rows of this content (any arrival) and this arrival's failed attempts."""
        return cls(
            series_count=series_count,
            resent=any(p.spool_path != message.spool_path and p.status == "delivered" for p in prior),
            done_by_this_arrival=frozenset(
                p.destination for p in prior if p.spool_path == message.spool_path
            ),
            inference=inference or {},
            failed_by_this_arrival=frozenset(
                p.destination
                for p in prior
                if p.spool_path == message.spool_path and p.status == DeliveryStatus.FAILED
            ),
            priors={p.destination: p for p in prior},
            failed_attempts=failed,
        )
