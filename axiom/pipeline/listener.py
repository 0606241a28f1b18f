"""The C-STORE SCP: spool atomically, publish with confirms, and only then answer Success
(``axiom.pipeline.ingest.ingest_instance``, shared with STOW-RS).

The handler stays short and returns statuses; pynetdicom turns an unexpected exception into 0xC211.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog
from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import create_file_meta
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.transport import ThreadedAssociationServer

from axiom.config import Settings
from axiom.dicom.admission import Admission, AssociationLimits, Connection
from axiom.dicom.bulk_recv import bulk_recv_handlers
from axiom.dicom.file_meta import encode_file_meta, pack_store_meta
from axiom.dicom.reactor import (
    install_reactor_wakeups,
    message_received,
    size_limit_handler,
    wakeup_handlers,
)
from axiom.dicom.slot_stream import StreamedSlot
from axiom.dicom.sop_classes import (
    ACCEPTED_TRANSFER_SYNTAXES,
    KNOWN_STORAGE_CLASSES,
    VERIFICATION,
    VERIFICATION_TRANSFER_SYNTAXES,
    unknown_storage_handler,
)
from axiom.dicom.spool import Spool
from axiom.dicom.store_request import store_request_handlers, streamed
from axiom.dicom.store_response import store_response_handlers
from axiom.dicom.tls import server_context
from axiom.domain.peers import PeerConfig
from axiom.infra.events import EventSink
from axiom.pipeline.ingest import (
    OUT_OF_RESOURCES_QUEUE,
    OUT_OF_RESOURCES_SPOOL,
    SUCCESS,
    Ingestor,
    Received,
    RefusalRecorder,
)
from axiom.pipeline.move_origin import MoveSources
from axiom.pipeline.ports import TaskPublisher
from axiom.pipeline.storage_commitment import STORAGE_COMMITMENT, StorageCommitment

log = structlog.get_logger("axiom.listener")


class StoreHandler:
    """Handles EVT_C_STORE for one listener process: the shared ``Ingestor`` does the work."""

    def __init__(
        self,
        spool: Spool,
        publisher: TaskPublisher,
        record_refusal: RefusalRecorder,
        source: str = "listener",
        events: EventSink | None = None,
        move_sources: MoveSources | None = None,
    ) -> None:
        self.ingest = Ingestor(spool, publisher, record_refusal, source, events)
        self.move_sources = move_sources

    @property
    def spool(self) -> Spool:
        return self.ingest.ports.spool

    def __call__(self, event: Event) -> int:
        message_received(event.assoc)
        request = cast(C_STORE, event.request)
        calling_ae, called_ae = _ae_titles(event.assoc)
        source = None
        if self.move_sources is not None:
            originator = request.MoveOriginatorApplicationEntityTitle
            source = self.move_sources.source_for(str(originator or ""), calling_ae)
        stream = streamed(request)
        sop_instance_uid = str(request.AffectedSOPInstanceUID)
        sop_class_uid = str(request.AffectedSOPClassUID)
        transfer_syntax = UID(event.context.transfer_syntax)
        meta = pack_store_meta(sop_class_uid, sop_instance_uid, transfer_syntax, calling_ae, called_ae)
        try:
            return self.ingest(
                Received(
                    meta=meta if meta is not None else event.file_meta,
                    data=stream.view() if stream is not None else request.DataSet.getbuffer(),  # type: ignore[union-attr]
                    sop_instance_uid=sop_instance_uid,
                    sop_class_uid=sop_class_uid,
                    transfer_syntax=transfer_syntax,
                    calling_ae=calling_ae,
                    called_ae=called_ae,
                    source=source,
                    prewritten=stream,
                )
            )
        finally:
            if stream is not None:
                stream.close()

    def open_stream(self, assoc: Any, context_id: int, request: C_STORE) -> StreamedSlot | None:
        """A spool slot for a large data set still arriving, after the File Meta ingest will give it
        (the same as ``event.file_meta`` with the AE titles set; should it differ, ingest writes the
        instance the usual way)."""
        context = assoc._accepted_cx.get(context_id)
        if context is None or not context.transfer_syntax:
            return None
        calling_ae, called_ae = _ae_titles(assoc)
        sop_class_uid = str(request.AffectedSOPClassUID)
        sop_instance_uid = str(request.AffectedSOPInstanceUID)
        packed = pack_store_meta(
            sop_class_uid, sop_instance_uid, context.transfer_syntax[0], calling_ae, called_ae
        )
        if packed is not None:
            return self.spool.stream(packed)
        try:
            meta = create_file_meta(
                sop_class_uid=UID(str(request.AffectedSOPClassUID)),
                sop_instance_uid=UID(str(request.AffectedSOPInstanceUID)),
                transfer_syntax=UID(context.transfer_syntax[0]),
            )
            meta.SendingApplicationEntityTitle = calling_ae
            meta.ReceivingApplicationEntityTitle = called_ae
            encoded = encode_file_meta(meta)
        except (TypeError, ValueError):
            return None  # ingest refuses or writes it the usual way
        return self.spool.stream(encoded)


def _ae_titles(assoc: Any) -> tuple[str, str]:
    """(calling, called) AE titles of an accepted association, as ingest records them."""
    return str(assoc.requestor.ae_title).strip(), str(assoc.acceptor.ae_title).strip()


def build_ae(settings: Settings) -> AE:
    # pynetdicom's standard notification handlers format INFO/DEBUG lines for every PDU and DIMSE
    # message (and copy each received dataset once, to say whether it is empty); axiom/logging.py
    # keeps pynetdicom at WARNING, so that work is thrown away. Associations made after this bind
    # none of them (process-wide; logging only).
    pynetdicom_config.LOG_HANDLER_LEVEL = "none"
    ae = AE(ae_title=settings.ae_title)
    for sop_class in KNOWN_STORAGE_CLASSES:
        ae.add_supported_context(sop_class, list(ACCEPTED_TRANSFER_SYNTAXES))
    ae.add_supported_context(VERIFICATION, list(VERIFICATION_TRANSFER_SYNTAXES))
    if settings.storage_commitment:
        # Whatever roles the requester proposes are accepted: it may take the SCP role to receive the
        # N-EVENT-REPORT on this association (pynetdicom sends it there in either case).
        ae.add_supported_context(
            STORAGE_COMMITMENT, list(VERIFICATION_TRANSFER_SYNTAXES), scu_role=True, scp_role=True
        )
    # Large PDUs mean fewer round trips per instance; 0 = no limit on what we accept.
    ae.maximum_pdu_size = 0
    # Admission enforces the association limits (per peer too); pynetdicom's own cap would count
    # silent connections that have not asked for an association yet.
    ae.maximum_associations = settings.dicom_max_connections
    ae.acse_timeout = settings.dicom_acse_timeout
    ae.dimse_timeout = settings.dicom_dimse_timeout
    ae.network_timeout = settings.dicom_network_timeout
    if settings.allowed_calling_aes:
        ae.require_calling_aet = list(settings.allowed_calling_aes)
    return ae


class ReusePortAssociationServer(ThreadedAssociationServer):
    """Lets several listener processes share one port (the kernel spreads associations among them),
    admits connections through ``Admission``, and does TLS handshakes in the connection's own thread
    with a deadline, so one silent TCP connection cannot hold up the accept loop."""

    admission: Admission
    handshake_timeout: float = 10.0
    # socketserver's default backlog of 5 drops the SYNs of a burst of senders (a 1 s retransmit each).
    request_queue_size = 128

    def server_bind(self) -> None:
        # pynetdicom's server_bind sets only SO_REUSEADDR, so the option goes on before it binds.
        cast(socket.socket, self.socket).setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        super().server_bind()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        client, address = cast(socket.socket, self.socket).accept()
        if self.ssl_context:
            # pynetdicom would handshake here, in the accept thread; it is done per connection instead.
            client = self.ssl_context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def verify_request(self, request: Any, client_address: Any) -> bool:
        return self.admission.connection_opened(str(client_address[0]))

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread; pynetdicom's part starts the association and returns.
        if isinstance(request, ssl.SSLSocket) and not self._handshake(request, str(client_address[0])):
            self.shutdown_request(request)
            return
        super().process_request_thread(request, client_address)

    def _handshake(self, request: ssl.SSLSocket, host: str) -> bool:
        request.settimeout(self.handshake_timeout)
        try:
            with self.admission.handshaking(host):
                request.do_handshake()
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS handshake failed", host=host, error=type(exc).__name__)
            return False
        request.settimeout(None)
        return True


def open_connections(ae: AE) -> Any:
    """The listener's connections as admission sees them, from the associations pynetdicom runs."""

    def snapshot(leave_out: object | None) -> list[Connection]:
        found = []
        for assoc in ae.active_associations:
            if not assoc.is_acceptor or assoc is leave_out:
                continue
            request = assoc.requestor.primitive
            if request is None:
                found.append(Connection(str(assoc.requestor.address), None))
            elif not (assoc.is_rejected or assoc.is_aborted or assoc.is_released):
                found.append(Connection(str(assoc.requestor.address), str(request.calling_ae_title).strip()))
        return found

    return snapshot


def _client_common_name(sock: object) -> str | None:
    if not isinstance(sock, ssl.SSLSocket):
        return None
    subject: Any = (sock.getpeercert() or {}).get("subject", ())
    return next((str(value) for rdn in subject for key, value in rdn if key == "commonName"), None)


def admission_handler(admission: Admission) -> Any:
    """EVT_REQUESTED: admit or reject the A-ASSOCIATE-RQ (pynetdicom skips negotiation once rejected)."""

    def on_requested(event: Event) -> None:
        assoc = event.assoc
        request = cast(A_ASSOCIATE, assoc.requestor.primitive)
        rejection = admission.association_requested(
            assoc,
            str(request.calling_ae_title).strip(),
            str(request.called_ae_title).strip(),
            str(assoc.requestor.address),
            _client_common_name(assoc.dul.socket.socket if assoc.dul.socket else None),
        )
        if rejection is not None:
            assoc.acse.send_reject(*rejection)
            assoc.kill()

    return on_requested


def association_limits(settings: Settings) -> AssociationLimits:
    return AssociationLimits(
        max_associations=settings.dicom_max_associations,
        max_associations_per_peer=settings.dicom_max_associations_per_peer,
        max_pending_per_host=settings.dicom_max_pending_per_host,
        max_connections=settings.dicom_max_connections,
    )


def make_listener(
    settings: Settings, handler: StoreHandler, known_peers: Callable[[], Sequence[PeerConfig]] = tuple
) -> ReusePortAssociationServer:
    """Bind the SCP socket; the caller runs ``serve_forever`` (blocking) or in a thread."""
    ae = build_ae(settings)
    admission = Admission(association_limits(settings), open_connections(ae), known_peers)
    handlers: list[Any] = [
        (evt.EVT_C_STORE, handler),
        (evt.EVT_REQUESTED, admission_handler(admission)),
        # The limit is the dataset's; the command set and PDU headers ride on top of it.
        size_limit_handler(settings.max_instance_bytes + 64 * 1024),
    ]
    if settings.storage_commitment:
        handlers += StorageCommitment(settings, known_peers).handlers()
    if settings.dicom_accept_any_storage:
        # After admission: a rejected association negotiates nothing.
        handlers.append((evt.EVT_REQUESTED, unknown_storage_handler()))
    if settings.dicom_reactor_wakeups:
        install_reactor_wakeups()
        handlers += wakeup_handlers()
    handlers += bulk_recv_handlers()
    handlers += store_request_handlers(handler.open_stream, settings.spool_stream_after_bytes)
    handlers += store_response_handlers()
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
    listener = cast(ReusePortAssociationServer, server)
    listener.admission = admission
    listener.handshake_timeout = settings.dicom_acse_timeout
    ae._servers.append(server)
    return listener


__all__ = ["OUT_OF_RESOURCES_QUEUE", "OUT_OF_RESOURCES_SPOOL", "SUCCESS", "StoreHandler", "make_listener"]
