"""What the listener accepts: the SOP classes and transfer syntaxes it negotiates, as tables shared by
the listener (``axiom.pipeline.listener.build_ae``) and the conformance statement
(``axiom.dicom.conformance``), so the two cannot drift apart.

Storage SOP classes pynetdicom does not know (a retired one such as Ultrasound Image Storage
(Retired), a newer one, or a private one) are accepted per association when
``dicom_accept_any_storage`` is on: at the A-ASSOCIATE-RQ each proposed abstract syntax that is
storage-like is added to that association's supported contexts, with the same transfer syntaxes as
every storage class, and registered with pynetdicom's storage service (``register_uid``, its
documented way to serve an unknown SOP class) so its C-STOREs reach the handler.
"""

from __future__ import annotations

import threading
from typing import Any, cast

import structlog
from pydicom.uid import UID, UID_dictionary
from pynetdicom import ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_context, register_uid
from pynetdicom.service_class import ServiceClass, StorageServiceClass
from pynetdicom.sop_class import Verification, uid_to_service_class  # type: ignore[attr-defined]

from axiom.dicom.validate import is_valid_uid

log = structlog.get_logger("axiom.listener")

# Storage SOP classes pynetdicom knows, accepted by name.
KNOWN_STORAGE_CLASSES: tuple[UID, ...] = tuple(
    UID(cast(str, cx.abstract_syntax)) for cx in AllStoragePresentationContexts
)
VERIFICATION: UID = UID(Verification)
# Every transfer syntax the listener accepts for a storage class, in pynetdicom's order.
ACCEPTED_TRANSFER_SYNTAXES: tuple[UID, ...] = tuple(UID(ts) for ts in ALL_TRANSFER_SYNTAXES)
# Verification is answered in the uncompressed syntaxes only (pynetdicom's default).
VERIFICATION_TRANSFER_SYNTAXES: tuple[UID, ...] = (
    UID("1.2.840.10008.1.2"),
    UID("1.2.840.10008.1.2.1"),
    UID("1.2.840.10008.1.2.1.99"),
    UID("1.2.840.10008.1.2.2"),
)

# Distinct unknown classes registered per process: a bound on what peers can make us remember.
MAX_REGISTERED_CLASSES = 4096
_registered: set[str] = set()
_lock = threading.Lock()


def is_unknown_storage_class(uid: str) -> bool:
    """A valid UID pynetdicom names no service for that may be a storage SOP class: a private UID, a
    UID newer than pydicom's dictionary, or one the dictionary calls a SOP class (a retired one)."""
    if not is_valid_uid(uid) or uid in _registered:
        return False
    value = UID(uid)
    if uid_to_service_class(value) is not ServiceClass:
        return False  # verification, query/retrieve, storage commitment...: not storage
    if value.is_private:
        return True
    entry = UID_dictionary.get(value)
    return entry is None or entry[1] == "SOP Class"


def _register(uid: str) -> bool:
    with _lock:
        if uid in _registered:
            return True
        if len(_registered) >= MAX_REGISTERED_CLASSES:
            return False
        register_uid(uid, "AxiomStorage_" + uid.replace(".", "_"), StorageServiceClass)
        _registered.add(uid)
        return True


def accept_unknown_storage(assoc: Any) -> None:
    """At the A-ASSOCIATE-RQ (before negotiation): support, for this association only, every proposed
    storage-like SOP class pynetdicom does not know."""
    request = assoc.requestor.primitive
    proposed = {
        str(cx.abstract_syntax)
        for cx in request.presentation_context_definition_list
        if cx.abstract_syntax is not None
    }
    supported = list(assoc.acceptor.supported_contexts)
    known = {str(cx.abstract_syntax) for cx in supported}
    added = []
    for uid in sorted(proposed - known):
        if (uid in _registered or is_unknown_storage_class(uid)) and _register(uid):
            supported.append(build_context(uid, list(ACCEPTED_TRANSFER_SYNTAXES)))
            added.append(uid)
    if added:
        assoc.acceptor.supported_contexts = supported
        log.info("accepting storage SOP classes unknown to pynetdicom", sop_classes=added)


def unknown_storage_handler() -> Any:
    """EVT_REQUESTED handler for ``accept_unknown_storage``; a rejected association is left alone."""

    def on_requested(event: Any) -> None:
        if not (event.assoc.is_rejected or event.assoc.is_aborted):
            accept_unknown_storage(event.assoc)

    return on_requested
