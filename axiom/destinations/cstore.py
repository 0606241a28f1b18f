"""C-STORE SCU destination (pynetdicom), keeping one association open across sends.

Opening an association costs a few round trips, so the destination keeps it and reuses it for
every instance whose SOP class and transfer syntax it already covers. An instance that needs a new
presentation context makes it release and associate again, proposing every context it has needed
so far (so alternating SOP classes settle on one association). A dropped or aborted association is
reopened on the next send; when a reused one dies under a send at once (the peer had closed it
while idle), that send is retried once on a fresh association. One that dies after a wait is not
retried here: the peer may have stored the instance and only the response was lost, and a second
send would be a second copy at a peer that files every C-STORE (the task's retry decides later).

An association left idle for ``association_close_delay_seconds`` is released (Orthanc's
``DicomAssociationCloseDelay``, 5 s there): many peers serve one association at a time (DCMTK's
storescp, small PACS) or cap them per AE, and every worker process holding an idle one open would
keep the others' associations waiting until their ACSE timeout.

Instances go in their received transfer syntax: the proposal is the syntax itself, plus Explicit
and Implicit VR Little Endian for uncompressed data (pynetdicom converts between those).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import build_context, evt
from pynetdicom.association import Association

from axiom.config import Settings
from axiom.destinations.base import CheckOutcome, DeliveryError, Destination
from axiom.dicom.part10 import transfer_syntax_of, with_transfer_syntax
from axiom.dicom.scu_ae import no_delay, park_reactor, requestor_ae
from axiom.dicom.tls import client_context
from axiom.dicom.transcode import TranscodeError, transcode
from axiom.domain.destinations import DestinationBase
from axiom.domain.instances import OutgoingInstance

# The console's C-ECHO waits no longer than this, whatever the send timeout.
ECHO_TIMEOUT_SECONDS = 5.0
# A reused association that fails a send within this long was already gone (closed by the peer
# while idle): the instance never reached it, so the send is retried at once on a fresh one.
STALE_ASSOCIATION_SECONDS = 1.0


class DicomTLS(BaseModel):
    """TLS for a C-STORE peer: its certificate must chain to ``ca_file``; ``cert_file`` and
    ``key_file`` when the peer requires a client certificate. Paths to PEM files."""

    model_config = ConfigDict(extra="forbid")

    ca_file: str
    cert_file: str | None = None
    key_file: str | None = None
    # The name the peer's certificate must carry; default: ``host``.
    server_hostname: str | None = None


class CStoreDestinationConfig(DestinationBase):
    type: Literal["cstore"] = "cstore"
    host: str
    port: int = Field(ge=1, le=65535)
    ae_title: str = Field(min_length=1, max_length=16)
    calling_ae_title: str = Field(default="AXIOM", min_length=1, max_length=16)
    timeout_seconds: float = Field(default=30.0, gt=0)
    # How long an association with nothing to send stays open for the next send; 0: released after
    # each send.
    association_close_delay_seconds: float = Field(default=1.0, ge=0)
    tls: DicomTLS | None = None


UNCOMPRESSED_LE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
# PS3.8 9.3.2.2: presentation context IDs are the odd numbers 1..255.
MAX_CONTEXTS = 128

# A-ASSOCIATE-RJ result values (PS3.8 9.3.4).
REJECTED_PERMANENT = 0x01
REJECTED_TRANSIENT = 0x02

# Failure statuses worth retrying later (PS3.4 B.2.3, PS3.7 C): the peer is busy or short of room.
TRANSIENT_STATUSES = frozenset({0x0210, 0x0212, 0x0213, 0xFE00})


@dataclass(frozen=True)
class ContextKey:
    """One presentation context we propose: a SOP class and its transfer syntaxes, preferred first."""

    sop_class: UID
    syntaxes: tuple[UID, ...]


def proposed_syntaxes(transfer_syntax: UID) -> tuple[UID, ...]:
    if transfer_syntax in UNCOMPRESSED_LE:
        return (transfer_syntax, *(ts for ts in UNCOMPRESSED_LE if ts != transfer_syntax))
    # Compressed, deflated or big endian: the exact syntax; if refused, send() decompresses.
    return (transfer_syntax,)


def status_outcome(status: int) -> str:
    """``"ok"`` (success or warning), ``"transient"`` or ``"permanent"`` for a C-STORE status."""
    if status == 0x0000 or status == 0x0001 or 0xB000 <= status <= 0xBFFF:
        return "ok"
    if status in TRANSIENT_STATUSES or 0xA700 <= status <= 0xA7FF:
        return "transient"
    # 0x0122 SOP class not supported, 0xA9xx data set does not match, 0xCxxx cannot understand,
    # and every other failure: sending the same bytes again gives the same answer.
    return "permanent"


class CStoreDestination(Destination[CStoreDestinationConfig]):
    kind: ClassVar[str] = "cstore"
    config_model: ClassVar[type[DestinationBase]] = CStoreDestinationConfig

    def __init__(self, config: CStoreDestinationConfig, settings: Settings) -> None:
        super().__init__(config, settings)
        self.peer = f"{self.config.host}:{self.config.port}"
        self._ae = requestor_ae(self.config.calling_ae_title)
        timeout = self.config.timeout_seconds
        self._ae.acse_timeout = timeout
        self._ae.dimse_timeout = timeout
        self._ae.network_timeout = timeout
        self._ae.connection_timeout = timeout
        self._assoc: Association | None = None
        tls = self.config.tls
        self._tls_args = (
            None
            if tls is None
            else (
                client_context(tls.ca_file, tls.cert_file or "", tls.key_file or ""),
                tls.server_hostname or self.config.host,
            )
        )
        # Every context needed so far, oldest first; re-proposed on each new association.
        self._contexts: OrderedDict[ContextKey, None] = OrderedDict()
        self._proposed: frozenset[ContextKey] = frozenset()
        self._lock = threading.Lock()
        # DIMSE message IDs are 16-bit; they only need to differ between requests in flight.
        self._message_ids = itertools.cycle(range(1, 65536))
        # Established associations since construction: lets tests and metrics see reuse.
        self.associations_opened = 0
        self._last_send = 0.0
        self._reaper: threading.Thread | None = None
        self._closed = threading.Event()

    # Public interface ---------------------------------------------------------------------------

    def check(self) -> CheckOutcome:
        """C-ECHO on an association of its own (the send association is left alone)."""
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        config = self.config
        ae = requestor_ae(config.calling_ae_title)
        ae.add_requested_context(Verification)
        timeout = min(config.timeout_seconds, ECHO_TIMEOUT_SECONDS)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = ae.connection_timeout = timeout
        peer = f"{config.ae_title}@{config.host}:{config.port}"
        assoc = ae.associate(config.host, config.port, ae_title=config.ae_title, tls_args=self._tls_args)
        if not assoc.is_established:
            if assoc.is_rejected:
                return CheckOutcome(False, f"{peer} rejected the association (check the AE titles)")
            return CheckOutcome(
                False, f"no association with {peer}: connection refused, timed out or aborted"
            )
        try:
            status = assoc.send_c_echo()
        finally:
            assoc.release()
        code = getattr(status, "Status", None)
        if code == 0x0000:
            return CheckOutcome(True, f"C-ECHO to {peer} succeeded (status 0x0000)")
        return CheckOutcome(False, f"C-ECHO to {peer} answered status {code!r}")

    def send(self, instance: OutgoingInstance) -> str:
        uid = instance.sop_instance_uid
        dataset = instance.dataset
        try:
            sop_class = UID(dataset.SOPClassUID)
            transfer_syntax = transfer_syntax_of(dataset)
        except (AttributeError, KeyError, ValueError):
            raise self._error(
                "dataset has no SOP Class UID or transfer syntax", uid, False, "unencodable"
            ) from None
        key = ContextKey(sop_class, proposed_syntaxes(transfer_syntax))
        outgoing = with_transfer_syntax(dataset, transfer_syntax)
        try:
            with self._lock:
                return self._send_locked(outgoing, key, uid)
        except DeliveryError as exc:
            if exc.code != "no-accepted-context" or transfer_syntax in UNCOMPRESSED_LE:
                raise
        # The peer takes no compressed form of this: send it decompressed, which every SCP must accept.
        try:
            plain = transcode(dataset, ExplicitVRLittleEndian)
        except TranscodeError as exc:
            raise self._error(str(exc), uid, False, "transcode") from None
        key = ContextKey(sop_class, proposed_syntaxes(ExplicitVRLittleEndian))
        with self._lock:
            return self._send_locked(with_transfer_syntax(plain, ExplicitVRLittleEndian), key, uid)

    def close(self) -> None:
        with self._lock:
            # The reaper ends; a later send starts another with the next association.
            self._closed.set()
            self._closed = threading.Event()
            self._reaper = None
            self._drop_association(release=True)

    # Association management ---------------------------------------------------------------------

    def _sent(self) -> None:
        """After a send (the lock held): release at once, or leave it to the reaper thread."""
        if self.config.association_close_delay_seconds == 0:
            self._drop_association(release=True)
            return
        self._last_send = time.monotonic()
        if self._reaper is None and self._assoc is not None:
            self._reaper = threading.Thread(
                target=self._reap, args=(self._closed,), name=f"cstore-idle-{self.name}", daemon=True
            )
            self._reaper.start()

    def _reap(self, closed: threading.Event) -> None:
        """Release the association once it has been idle for the close delay, then end (the next
        send's association starts another); ends with ``close`` too."""
        delay = self.config.association_close_delay_seconds
        wait = delay
        while not closed.wait(wait):
            with self._lock:
                idle = time.monotonic() - self._last_send
                if self._assoc is not None and idle >= delay:
                    self._drop_association(release=True)
                if self._assoc is None:
                    # Nothing left to watch: no thread waking up every delay for nothing.
                    if not closed.is_set():
                        self._reaper = None
                    return
                # Next look: when the current association would be idle long enough.
                wait = delay - idle if idle < delay else delay

    def _send_locked(self, dataset: Dataset, key: ContextKey, uid: str) -> str:
        for attempt in (1, 2):
            assoc, reused = self._association_for(key, uid)
            started = time.monotonic()
            park_reactor(assoc)
            try:
                # A message ID of its own per request, so a late response is never taken for this one.
                status = assoc.send_c_store(dataset, msg_id=next(self._message_ids))
            except RuntimeError:
                # The association ended between our check and the send.
                status = Dataset()
            except (ValueError, AttributeError, TypeError):
                # pynetdicom could not encode the dataset for the accepted context.
                raise self._error(
                    "dataset cannot be encoded for the accepted context", uid, False, "unencodable"
                ) from None
            finally:
                assoc._reactor_checkpoint.set()  # pynetdicom resumes it too, except when it raised
            if "Status" in status:
                self._sent()
                return self._check_status(int(status.Status), uid)
            # No response: aborted, dropped or timed out. pynetdicom has aborted the association.
            self._drop_association(release=False)
            stale = reused and time.monotonic() - started < STALE_ASSOCIATION_SECONDS
            if not (stale and attempt == 1):
                raise self._error(
                    "no C-STORE response (association aborted, dropped or timed out)",
                    uid,
                    True,
                    "no-response",
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _association_for(self, key: ContextKey, uid: str) -> tuple[Association, bool]:
        """An established association that covers ``key``, and whether it was already open."""
        assoc = self._assoc
        if assoc is not None and assoc.is_established:
            if self._covers(assoc, key):
                return assoc, True
            if key in self._proposed:
                # Proposed on this very association and refused: asking again changes nothing.
                raise self._no_context(uid)
            self._drop_association(release=True)
        elif assoc is not None:
            self._drop_association(release=False)
        self._remember(key)
        assoc = self._open(uid)
        if not self._covers(assoc, key):
            # The peer accepted other contexts but not this one; stop proposing it.
            self._contexts.pop(key, None)
            raise self._no_context(uid)
        return assoc, False

    def _remember(self, key: ContextKey) -> None:
        self._contexts[key] = None
        self._contexts.move_to_end(key)
        while len(self._contexts) > MAX_CONTEXTS:
            self._contexts.popitem(last=False)

    def _open(self, uid: str) -> Association:
        contexts = [build_context(k.sop_class, list(k.syntaxes)) for k in self._contexts]
        cfg = self.config
        assoc = self._ae.associate(
            cfg.host,
            cfg.port,
            contexts=contexts,
            ae_title=cfg.ae_title,
            tls_args=self._tls_args,
            evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)],
        )
        if assoc.is_established:
            self._assoc = assoc
            self._proposed = frozenset(self._contexts)
            self.associations_opened += 1
            return assoc
        raise self._association_failure(assoc, uid)

    def _association_failure(self, assoc: Association, uid: str) -> DeliveryError:
        response = assoc.acceptor.primitive
        result = getattr(response, "result", None) if response is not None else None
        if assoc.is_rejected and result == REJECTED_PERMANENT:
            # E.g. called AE title not recognised: a configuration problem, not a passing one.
            return self._error("association rejected (rejected-permanent)", uid, False, "rejected-permanent")
        if assoc.is_rejected:
            return self._error("association rejected (rejected-transient)", uid, True, "rejected-transient")
        if response is not None and result == 0x00:
            # Accepted, then aborted by pynetdicom because no presentation context was accepted.
            self._contexts.clear()
            return self._no_context(uid)
        return self._error(
            "cannot associate (connection refused, reset or timed out)", uid, True, "connect-failed"
        )

    def _drop_association(self, *, release: bool) -> None:
        assoc, self._assoc = self._assoc, None
        self._proposed = frozenset()
        if assoc is None:
            return
        if release and assoc.is_established:
            assoc.release()
        if assoc.is_established:
            assoc.abort()

    @staticmethod
    def _covers(assoc: Association, key: ContextKey) -> bool:
        for cx in assoc.accepted_contexts:
            if cx.abstract_syntax == key.sop_class and cx.as_scu is not False:
                accepted = cx.transfer_syntax[0]
                if accepted == key.syntaxes[0] or (
                    key.syntaxes[0] in UNCOMPRESSED_LE and accepted in UNCOMPRESSED_LE
                ):
                    return True
        return False

    # Outcomes -----------------------------------------------------------------------------------

    def _check_status(self, status: int, uid: str) -> str:
        outcome = status_outcome(status)
        if outcome == "ok":
            return f"{self.peer}/{self.config.ae_title}"
        code = f"0x{status:04X}"
        raise self._error(f"C-STORE failed with status {code}", uid, outcome == "transient", code)

    def _no_context(self, uid: str) -> DeliveryError:
        return self._error("no accepted presentation context", uid, False, "no-accepted-context")

    def _error(self, what: str, uid: str, transient: bool, code: str) -> DeliveryError:
        return DeliveryError(
            f"C-STORE to {self.peer}: {what} (SOP Instance UID {uid})", transient=transient, code=code
        )
