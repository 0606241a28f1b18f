"""The C-STORE SCP: spool atomically, publish with confirms, and only then answer Success.

The handler stays short and returns statuses; pynetdicom turns an unexpected exception into 0xC211.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import structlog
from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from axiom.config import Settings
from axiom.dicom.reactor import dul_polling_handler, shorten_association_polling
from axiom.dicom.spool import Spool
from axiom.dicom.tls import server_context
from axiom.dicom.validate import InvalidDataset, check_encoded_dataset
from axiom.domain.messages import InstanceMessage
from axiom.services.ports import TaskPublisher

log = structlog.get_logger("axiom.listener")

SUCCESS = 0x0000
OUT_OF_RESOURCES_SPOOL = 0xA700
OUT_OF_RESOURCES_QUEUE = 0xA701

# Called with (quarantined path, reason, SOP Instance UID, calling AE) when a payload is refused.
RefusalRecorder = Callable[[Path, str, str, str], None]


class StoreHandler:
    """Handles EVT_C_STORE for one listener process."""

    def __init__(
        self,
        spool: Spool,
        publisher: TaskPublisher,
        record_refusal: RefusalRecorder,
        source: str = "listener",
    ) -> None:
        self.spool = spool
        self.publisher = publisher
        self.record_refusal = record_refusal
        self.source = source

    def __call__(self, event: Event) -> int:
        request = cast(C_STORE, event.request)
        sop_instance_uid = str(request.AffectedSOPInstanceUID)
        sop_class_uid = str(request.AffectedSOPClassUID)
        calling_ae = str(event.assoc.requestor.ae_title).strip()
        called_ae = str(event.assoc.acceptor.ae_title).strip()
        transfer_syntax = UID(event.context.transfer_syntax)
        data = request.DataSet.getbuffer()  # type: ignore[union-attr]
        meta = event.file_meta
        meta.SendingApplicationEntityTitle = calling_ae
        meta.ReceivingApplicationEntityTitle = called_ae

        try:
            check_encoded_dataset(data, transfer_syntax, sop_class_uid)
        except InvalidDataset as exc:
            return self._refuse(meta, data, exc, sop_instance_uid, calling_ae)

        try:
            path = self.spool.write(meta, data)
        except OSError as exc:
            log.error("spool write failed", sop_instance_uid=sop_instance_uid, error=type(exc).__name__)
            return OUT_OF_RESOURCES_SPOOL

        message = InstanceMessage(
            spool_path=str(path),
            sop_instance_uid=sop_instance_uid,
            sop_class_uid=sop_class_uid,
            transfer_syntax_uid=str(transfer_syntax),
            calling_ae=calling_ae,
            called_ae=called_ae,
            source=self.source,
            received_at=datetime.now(UTC).isoformat(),
            size_bytes=len(data),
        )
        try:
            self.publisher.publish_instance(message)
        except Exception as exc:
            # Not confirmed by the broker: take the file back so nothing half-done stays behind,
            # and let the sender retry.
            self.spool.remove(path)
            log.error("publish failed", sop_instance_uid=sop_instance_uid, error=type(exc).__name__)
            return OUT_OF_RESOURCES_QUEUE
        return SUCCESS

    def _refuse(
        self, meta: object, data: memoryview, exc: InvalidDataset, sop_uid: str, calling_ae: str
    ) -> int:
        try:
            kept = self.spool.quarantine_bytes(meta, data)  # type: ignore[arg-type]
            self.record_refusal(kept, str(exc), sop_uid, calling_ae)
        except Exception as record_exc:
            log.error("quarantine failed", sop_instance_uid=sop_uid, error=type(record_exc).__name__)
            return OUT_OF_RESOURCES_SPOOL
        log.warning(
            "refused invalid dataset", sop_instance_uid=sop_uid, reason=str(exc), status=hex(exc.status)
        )
        return exc.status


def build_ae(settings: Settings) -> AE:
    ae = AE(ae_title=settings.ae_title)
    for context in AllStoragePresentationContexts:
        ae.add_supported_context(cast(str, context.abstract_syntax), ALL_TRANSFER_SYNTAXES)
    ae.add_supported_context(Verification)
    # Large PDUs mean fewer round trips per instance; 0 = no limit on what we accept.
    ae.maximum_pdu_size = 0
    if settings.allowed_calling_aes:
        ae.require_calling_aet = list(settings.allowed_calling_aes)
    return ae


class ReusePortAssociationServer(ThreadedAssociationServer):
    """Lets several listener processes share one port; the kernel spreads associations among them."""

    def server_bind(self) -> None:
        # pynetdicom's server_bind sets only SO_REUSEADDR, so the option goes on before it binds.
        cast(socket.socket, self.socket).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()


def make_listener(settings: Settings, handler: StoreHandler) -> ReusePortAssociationServer:
    """Bind the SCP socket; the caller runs ``serve_forever`` (blocking) or in a thread."""
    ae = build_ae(settings)
    handlers: list[Any] = [(evt.EVT_C_STORE, handler)]
    if settings.dicom_poll_interval > 0:
        shorten_association_polling(settings.dicom_poll_interval)
        handlers.append((evt.EVT_CONN_OPEN, dul_polling_handler(settings.dicom_poll_interval)))
    tls = (
        server_context(settings.dicom_tls_cert, settings.dicom_tls_key, settings.dicom_tls_client_ca)
        if settings.dicom_tls_cert and settings.dicom_tls_key
        else None
    )
    server = ae.make_server(
        (settings.dicom_host, settings.dicom_port),
        ssl_context=tls,
        evt_handlers=handlers,
        server_class=ReusePortAssociationServer,
    )
    ae._servers.append(server)
    return server  # type: ignore[return-value]
