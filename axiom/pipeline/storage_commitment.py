"""Storage Commitment Push Model SCP (PS3.4 Annex J): N-ACTION in, N-EVENT-REPORT out.

The N-ACTION handler only checks the request and starts a thread; pynetdicom answers the N-ACTION at
once. The thread waits (up to ``storage_commitment_timeout``) until every referenced instance is held:
a ``dicom_instances`` row in any status but quarantined, or a spooled (fsync'd) file whose meta names
it. It then sends the N-EVENT-REPORT (event type 1: all committed, 2: some failed with 0x0112 or 0x0119)
on the requester's association while that is still established, else on a new association to the
requester's address and the port of the known peer with its AE title (``peers:``, ``port``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import structlog
from pydicom import Dataset
from pydicom.filereader import read_file_meta_info
from pydicom.uid import UID
from pynetdicom import build_role, evt
from pynetdicom.association import Association
from pynetdicom.dimse_messages import N_ACTION_RSP
from pynetdicom.dimse_primitives import N_ACTION
from pynetdicom.events import Event
from pynetdicom.sop_class import StorageCommitmentPushModel  # type: ignore[attr-defined]
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from axiom.config import Settings
from axiom.db.models import DicomInstance
from axiom.db.session import create_db_engine, make_session_factory
from axiom.dicom.scu_ae import requestor_ae
from axiom.dicom.sop_classes import VERIFICATION_TRANSFER_SYNTAXES
from axiom.domain.instances import InstanceStatus
from axiom.domain.peers import PeerConfig

log = structlog.get_logger("axiom.listener")

STORAGE_COMMITMENT = UID(StorageCommitmentPushModel)
COMMITMENT_INSTANCE = UID("1.2.840.10008.1.20.1.1")
SUCCESS, NO_SUCH_ACTION, MISSING_ATTRIBUTE, RESOURCE_LIMITATION = 0x0000, 0x0123, 0x0120, 0x0213
NO_SUCH_OBJECT_INSTANCE, CLASS_INSTANCE_CONFLICT = 0x0112, 0x0119
MAX_PENDING, POLL_SECONDS = 64, 0.5  # requests waiting at once per listener process; seconds
_ANSWERED = "_axiom_commitment_answered"


@dataclass
class Request:
    transaction_uid: str
    references: list[tuple[str, str]]  # (SOP Class UID, SOP Instance UID)
    calling_ae: str
    address: str


class StorageCommitment:
    """EVT_N_ACTION and EVT_DIMSE_SENT handlers for one listener process (``handlers()``)."""

    def __init__(
        self,
        settings: Settings,
        known_peers: Callable[[], Sequence[PeerConfig]] = tuple,
        sessions: Callable[[], Session] | None = None,
    ) -> None:
        self.settings, self.known_peers, self._sessions = settings, known_peers, sessions
        self._pending = threading.BoundedSemaphore(MAX_PENDING)
        self._spool_uids: dict[str, str] = {}  # spool file name -> SOP Instance UID
        self._lock = threading.Lock()

    def handlers(self) -> list[tuple[Any, Any]]:
        return [(evt.EVT_N_ACTION, self.on_n_action), (evt.EVT_DIMSE_SENT, self.on_sent)]

    def on_n_action(self, event: Event) -> tuple[int, Dataset | None]:
        if cast(N_ACTION, event.request).ActionTypeID != 1:
            return NO_SUCH_ACTION, None
        info, peer = event.action_information, event.assoc.requestor
        try:
            refs = [
                (str(i.ReferencedSOPClassUID), str(i.ReferencedSOPInstanceUID))
                for i in info.ReferencedSOPSequence
            ]
            request = Request(str(info.TransactionUID), refs, str(peer.ae_title).strip(), str(peer.address))
        except (AttributeError, KeyError, TypeError, ValueError):
            return MISSING_ATTRIBUTE, None
        if not self._pending.acquire(blocking=False):
            return RESOURCE_LIMITATION, None
        answered = threading.Event()
        setattr(event.assoc, _ANSWERED, answered)
        threading.Thread(target=self._run, args=(event.assoc, request, answered), daemon=True).start()
        return SUCCESS, None

    def on_sent(self, event: Event) -> None:
        # The report may use the association only once the N-ACTION response is on its way.
        if isinstance(event.message, N_ACTION_RSP) and (answered := getattr(event.assoc, _ANSWERED, None)):
            answered.set()

    def _run(self, assoc: Association, request: Request, answered: threading.Event) -> None:
        try:
            info, event_type = self.outcome(request)
            answered.wait(self.settings.dicom_dimse_timeout)
            self.report(assoc, request, info, event_type)
        except Exception:
            log.exception("storage commitment report failed", transaction_uid=request.transaction_uid)
        finally:
            self._pending.release()

    def outcome(self, request: Request) -> tuple[Dataset, int]:
        """Wait for the referenced instances; the event information and event type to report."""
        wanted = {uid for _, uid in request.references}
        held: dict[str, str | None] = {}
        deadline = time.monotonic() + self.settings.storage_commitment_timeout
        while True:
            held.update(self.held(wanted - held.keys()))
            if held.keys() >= wanted or time.monotonic() >= deadline:
                break
            time.sleep(POLL_SECONDS)
        info = Dataset()
        info.TransactionUID = request.transaction_uid
        committed: list[Dataset] = []
        failed: list[Dataset] = []
        for sop_class, uid in request.references:
            item = Dataset()
            item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, uid
            if uid not in held:
                item.FailureReason = NO_SUCH_OBJECT_INSTANCE
            elif held[uid] not in (None, sop_class):
                item.FailureReason = CLASS_INSTANCE_CONFLICT
            (failed if "FailureReason" in item else committed).append(item)
        if committed:
            info.ReferencedSOPSequence = committed
        if failed:
            info.FailedSOPSequence = failed
        return info, 2 if failed else 1

    def held(self, uids: set[str]) -> dict[str, str | None]:
        """Of ``uids``, those Axiom holds, with their SOP Class UID where the database knows it."""
        found: dict[str, str | None] = {}
        ordered = sorted(uids)
        try:
            with self.sessions()() as session:
                for start in range(0, len(ordered), 500):
                    query = select(DicomInstance.sop_instance_uid, DicomInstance.sop_class_uid).where(
                        DicomInstance.sop_instance_uid.in_(ordered[start : start + 500]),
                        DicomInstance.status != InstanceStatus.QUARANTINED,
                    )
                    found.update({uid: sop_class for uid, sop_class in session.execute(query)})
        except SQLAlchemyError as exc:  # the database may blip: the spool still counts, retry next turn
            log.warning("storage commitment: database not read", error=type(exc).__name__)
        return found | dict.fromkeys((uids - found.keys()) & self._spooled())

    def sessions(self) -> Callable[[], Session]:
        with self._lock:
            if self._sessions is None:
                self._sessions = make_session_factory(create_db_engine(self.settings.effective_database_url))
            return self._sessions

    def _spooled(self) -> set[str]:
        """SOP Instance UIDs of the spooled files (each file's meta read once)."""
        spool_dir: Path = self.settings.spool_dir
        names = {p.name for p in spool_dir.glob("*.dcm")}
        with self._lock:
            for name in names - self._spool_uids.keys():
                try:
                    self._spool_uids[name] = str(
                        read_file_meta_info(spool_dir / name).MediaStorageSOPInstanceUID
                    )
                except Exception:  # routed away meanwhile, or unreadable: not held here
                    continue
            for gone in self._spool_uids.keys() - names:
                del self._spool_uids[gone]
            return set(self._spool_uids.values())

    def report(self, assoc: Association, request: Request, info: Dataset, event_type: int) -> None:
        if assoc.is_established and self._send(assoc, info, event_type):
            return
        caller = (request.calling_ae, request.address)
        peer = next((p for p in self.known_peers() if (p.ae_title, p.host) == caller and p.port), None)
        if peer is None or peer.port is None:
            log.warning("storage commitment report undeliverable: no known peer with a port", ae=caller[0])
            return
        ae = requestor_ae(self.settings.ae_title)
        ae.add_requested_context(STORAGE_COMMITMENT, list(VERIFICATION_TRANSFER_SYNTAXES))
        for kind in ("acse", "dimse", "network"):
            setattr(ae, f"{kind}_timeout", getattr(self.settings, f"dicom_{kind}_timeout"))
        role = build_role(STORAGE_COMMITMENT, scu_role=False, scp_role=True)
        new = ae.associate(peer.host, peer.port, ae_title=peer.ae_title, ext_neg=[role])
        if not new.is_established:
            log.warning("storage commitment report undeliverable: association refused", peer=peer.name)
            return
        try:
            self._send(new, info, event_type)
        finally:
            new.release()

    def _send(self, assoc: Association, info: Dataset, event_type: int) -> bool:
        try:
            status, _ = assoc.send_n_event_report(info, event_type, STORAGE_COMMITMENT, COMMITMENT_INSTANCE)
        except (RuntimeError, ValueError) as exc:  # released meanwhile, or no context for it
            log.info("storage commitment report not sent on this association", error=str(exc))
            return False
        sent = cast(int | None, getattr(status, "Status", None))
        log.info(
            "storage commitment reported", transaction_uid=info.TransactionUID, event=event_type, status=sent
        )
        return sent is not None
