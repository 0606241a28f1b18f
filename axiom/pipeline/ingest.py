"""Ingest one received instance, for every way in (the C-STORE listener, STOW-RS, a source's
C-GET or WADO-RS retrieval).

``ingest_instance`` validates the encoded dataset, spools it atomically, publishes the task through
the ``TaskPublisher`` port and only then reports it accepted; a refused payload is quarantined with
an exception row. Each instance gets a correlation id, bound to the structlog context while it is
ingested and carried in the task message so the worker's logs show it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import structlog
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID
from sqlalchemy.orm import Session, sessionmaker

from axiom import metrics
from axiom.db.repositories import exceptions as exception_repo
from axiom.dicom.spool import Spool
from axiom.dicom.validate import InvalidDataset, check_encoded_dataset, check_uid, is_valid_uid, safe_uid
from axiom.domain.messages import InstanceMessage
from axiom.domain.received import SUCCESS, Prewritten, Received  # noqa: F401 - the listener imports them from here
from axiom.infra import events as ev
from axiom.pipeline.ports import TaskPublisher

log = structlog.get_logger("axiom.ingest")

# DICOM statuses of the outcomes that are not the payload's fault.
OUT_OF_RESOURCES_SPOOL = 0xA700
OUT_OF_RESOURCES_QUEUE = 0xA701

# Called with (quarantined path, reason, SOP Instance UID, calling AE) when a payload is refused;
# no path when it was too large to keep.
RefusalRecorder = Callable[[Path | None, str, str, str], None]


class RefusalLog:
    def __init__(self, sessions: sessionmaker[Session], source: str = "listener") -> None:
        self.sessions = sessions
        self.source = source

    def __call__(self, kept: Path | None, reason: str, sop_instance_uid: str, calling_ae: str) -> None:
        with self.sessions() as session:
            exception_repo.add_exception(
                session,
                stage="ingest",
                error_class="InvalidDataset",
                message=f"refused from {self.source} (calling AE {calling_ae!r}): {reason}",
                # A UID that failed the grammar is not kept as such: it may be anything, of any length.
                sop_instance_uid=sop_instance_uid if is_valid_uid(sop_instance_uid) else "",
                study_instance_uid="",
                file_path=str(kept) if kept is not None else None,
            )
            session.commit()


@dataclass
class IngestPorts:
    """What ingesting needs from its role: the spool, the broker, the refusal log, the events."""

    spool: Spool
    publisher: TaskPublisher
    record_refusal: RefusalRecorder
    events: ev.EventSink = field(default_factory=ev.NullEvents)


@dataclass(frozen=True)
class Arrival:
    """How an instance came in (from the C-STORE request, or from a STOW-RS part's meta)."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: UID
    calling_ae: str
    called_ae: str
    source: str


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"  # the payload is invalid: quarantined, with an exception row
    ERROR = "error"  # our side failed (spool, broker, quarantine): the sender may retry


@dataclass(frozen=True)
class IngestResult:
    outcome: Outcome
    status: int  # the DICOM status: 0x0000 when accepted
    reason: str = ""
    correlation_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


def ingest_instance(
    ports: IngestPorts,
    meta: FileMetaDataset | bytes,
    data: bytes | memoryview,
    arrival: Arrival,
    prewritten: Prewritten | None = None,
) -> IngestResult:
    """Validate, spool and publish one instance; answers how it went, never raises.

    ``prewritten``: ``data`` already lies in a spool slot (a large C-STORE), committed if accepted."""
    correlation_id = new_correlation_id()
    logged_uid = safe_uid(arrival.sop_instance_uid)
    with structlog.contextvars.bound_contextvars(correlation_id=correlation_id, sop_instance_uid=logged_uid):
        result = _ingest(ports, meta, data, arrival, correlation_id, prewritten)
    metrics.RECEIVED.labels(source=arrival.source, status=str(result.outcome)).inc()
    if result.accepted:
        ports.events.emit(
            ev.RECEIVED,
            sop_instance_uid=logged_uid,
            correlation_id=correlation_id,
            source=arrival.source,
            status="accepted",
        )
    else:
        ports.events.emit(
            ev.FAILED,
            sop_instance_uid=logged_uid,
            correlation_id=correlation_id,
            source=arrival.source,
            stage="ingest",
            status=str(result.outcome),
        )
    return result


def _ingest(
    ports: IngestPorts,
    meta: FileMetaDataset | bytes,
    data: bytes | memoryview,
    arrival: Arrival,
    correlation_id: str,
    prewritten: Prewritten | None,
) -> IngestResult:
    if not ports.spool.has_room():
        # Before anything is written: what we cannot keep, we do not acknowledge (nor quarantine).
        log.warning("refused: free space under the low watermark")
        return IngestResult(Outcome.ERROR, OUT_OF_RESOURCES_SPOOL, "out of disk space", correlation_id)
    if len(data) > ports.spool.max_instance_bytes:
        reason = f"instance of {len(data)} bytes is over the limit of {ports.spool.max_instance_bytes}"
        return refuse(ports, meta, data, reason, OUT_OF_RESOURCES_SPOOL, arrival, correlation_id, keep=False)
    try:
        check_uid(arrival.sop_instance_uid, "the SOP Instance UID")
        check_uid(arrival.sop_class_uid, "the SOP Class UID")
        check_encoded_dataset(data, arrival.transfer_syntax, arrival.sop_class_uid, arrival.sop_instance_uid)
    except InvalidDataset as exc:
        return refuse(ports, meta, data, str(exc), exc.status, arrival, correlation_id)

    try:
        path = ports.spool.write(meta, data, prewritten)
    except OSError as exc:
        log.error("spool write failed", error=type(exc).__name__)
        return IngestResult(Outcome.ERROR, OUT_OF_RESOURCES_SPOOL, "spool write failed", correlation_id)

    message = InstanceMessage(
        spool_path=str(path),
        sop_instance_uid=arrival.sop_instance_uid,
        sop_class_uid=arrival.sop_class_uid,
        transfer_syntax_uid=str(arrival.transfer_syntax),
        calling_ae=arrival.calling_ae,
        called_ae=arrival.called_ae,
        source=arrival.source,
        received_at=datetime.now(UTC).isoformat(),
        size_bytes=len(data),
        correlation_id=correlation_id,
    )
    try:
        ports.publisher.publish_instance(message)
    except Exception as exc:
        # Not confirmed by the broker: take the file back so nothing half-done stays behind,
        # and let the sender retry.
        ports.spool.remove(path)
        log.error("publish failed", error=type(exc).__name__)
        return IngestResult(Outcome.ERROR, OUT_OF_RESOURCES_QUEUE, "queueing failed", correlation_id)
    log.debug("instance accepted", source=arrival.source)
    return IngestResult(Outcome.ACCEPTED, 0x0000, "", correlation_id)


def refuse(
    ports: IngestPorts,
    meta: FileMetaDataset | bytes | None,
    data: bytes | memoryview,
    reason: str,
    status: int,
    arrival: Arrival,
    correlation_id: str = "",
    *,
    keep: bool = True,
) -> IngestResult:
    """Quarantine a refused payload as received (with our meta when there is one) and record why;
    ``keep=False`` records it without a copy (a payload too large to keep)."""
    correlation_id = correlation_id or new_correlation_id()
    try:
        kept = ports.spool.quarantine_bytes(meta, data) if keep else None
        ports.record_refusal(kept, reason, arrival.sop_instance_uid, arrival.calling_ae)
    except Exception as record_exc:
        log.error("quarantine failed", error=type(record_exc).__name__)
        return IngestResult(Outcome.ERROR, OUT_OF_RESOURCES_SPOOL, "quarantine failed", correlation_id)
    log.warning("refused invalid dataset", reason=reason, status=hex(status), source=arrival.source)
    return IngestResult(Outcome.REFUSED, status, reason, correlation_id)


def ingest_unparsable(
    ports: IngestPorts, data: bytes | memoryview, reason: str, arrival: Arrival
) -> IngestResult:
    """A payload too broken to build File Meta for: kept as received, recorded and counted."""
    result = refuse(ports, None, data, reason, 0xC000, arrival)
    metrics.RECEIVED.labels(source=arrival.source, status=str(result.outcome)).inc()
    ports.events.emit(
        ev.FAILED,
        sop_instance_uid=safe_uid(arrival.sop_instance_uid),
        correlation_id=result.correlation_id,
        source=arrival.source,
        stage="ingest",
        status=str(result.outcome),
    )
    return result


class Ingestor:
    """``ingest_instance`` bound to one role's ports and source name; returns the DICOM status."""

    def __init__(
        self,
        spool: Spool,
        publisher: TaskPublisher,
        record_refusal: RefusalRecorder,
        source: str,
        events: ev.EventSink | None = None,
    ) -> None:
        self.ports = IngestPorts(spool, publisher, record_refusal, events or ev.NullEvents())
        self.source = source

    def __call__(self, received: Received) -> int:
        meta = received.meta
        if isinstance(meta, FileMetaDataset):  # encoded meta (the listener's) carries them already
            meta.SendingApplicationEntityTitle = received.calling_ae
            meta.ReceivingApplicationEntityTitle = received.called_ae
        arrival = Arrival(
            sop_instance_uid=received.sop_instance_uid,
            sop_class_uid=received.sop_class_uid,
            transfer_syntax=received.transfer_syntax,
            calling_ae=received.calling_ae,
            called_ae=received.called_ae,
            source=received.source or self.source,
        )
        return ingest_instance(self.ports, meta, received.data, arrival, received.prewritten).status
