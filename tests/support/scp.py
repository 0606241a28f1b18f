"""A scriptable Storage SCP (pynetdicom) on loopback, for outcomes Orthanc will not produce on demand.

It is a real DICOM server over a real socket, as in pynetdicom's own tests: the SCU under test
negotiates, sends and reads responses exactly as it would against a PACS. The test chooses which
SOP classes/syntaxes it accepts, which status each C-STORE gets, and whether it stalls or aborts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
from pynetdicom.transport import ThreadedAssociationServer

from tests.support.dcmtk import LOOPBACK, free_port

ALL_SYNTAXES: tuple[str, ...] = ()  # empty: every syntax pynetdicom knows


@dataclass
class Received:
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: str
    calling_ae: str


@dataclass
class ScpLog:
    received: list[Received] = field(default_factory=list)
    established: int = 0
    released: int = 0
    aborted: int = 0


class StorageSCP:
    """Context manager: ``with StorageSCP(status=0xA700) as scp: ... scp.port ...``.

    ``status`` is an int or a callable ``(event) -> int`` evaluated per C-STORE. ``sop_classes``
    limits what is accepted (default: every storage class); ``transfer_syntaxes`` limits syntaxes
    (default: any proposed). ``delay`` stalls each response (seconds, or a callable of the 1-based
    request number); ``abort_on_store`` aborts the
    association instead of answering (always, or when it returns True for the 1-based number of
    the C-STORE request). ``stop()`` aborts open associations, as a crashing peer would.
    """

    def __init__(
        self,
        *,
        ae_title: str = "TESTSCP",
        status: int | Callable[[Any], int] = 0x0000,
        sop_classes: Sequence[str] | None = None,
        transfer_syntaxes: Sequence[str] = ALL_SYNTAXES,
        delay: float | Callable[[int], float] = 0.0,
        abort_on_store: bool | Callable[[int], bool] = False,
        maximum_associations: int = 10,
        require_called_aet: bool = True,
    ) -> None:
        self.ae_title = ae_title
        self.host = LOOPBACK
        self.port = free_port()
        self.status = status
        self.delay = delay
        self.abort_on_store = abort_on_store
        self.requests = 0
        self.log = ScpLog()
        self._lock = threading.Lock()
        self._ae = AE(ae_title=ae_title)
        self._ae.maximum_associations = maximum_associations
        self._ae.require_called_aet = require_called_aet
        self._ae.network_timeout = 30
        classes = [UID(c) for c in sop_classes] if sop_classes is not None else None
        # Default: every syntax pynetdicom knows, so compressed proposals are accepted as they come.
        syntaxes = list(transfer_syntaxes) or list(ALL_TRANSFER_SYNTAXES)
        for cx in AllStoragePresentationContexts:
            if cx.abstract_syntax is not None and (classes is None or cx.abstract_syntax in classes):
                self._ae.add_supported_context(cx.abstract_syntax, syntaxes)
        self._server: ThreadedAssociationServer | None = None

    def _on_store(self, event: Any) -> int:
        with self._lock:
            self.requests += 1
            number = self.requests
        delay = self.delay(number) if callable(self.delay) else self.delay
        if delay:
            time.sleep(delay)
        abort = self.abort_on_store(number) if callable(self.abort_on_store) else self.abort_on_store
        if abort:
            event.assoc.abort()
            return 0x0000
        with self._lock:
            self.log.received.append(
                Received(
                    sop_instance_uid=str(event.request.AffectedSOPInstanceUID),
                    sop_class_uid=str(event.request.AffectedSOPClassUID),
                    transfer_syntax=str(event.context.transfer_syntax),
                    calling_ae=str(event.assoc.requestor.ae_title),
                )
            )
        return self.status(event) if callable(self.status) else self.status

    def _count(self, name: str) -> Callable[[Any], None]:
        def handler(_: Any) -> None:
            with self._lock:
                setattr(self.log, name, getattr(self.log, name) + 1)

        return handler

    def start(self) -> StorageSCP:
        handlers: list[Any] = [
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ESTABLISHED, self._count("established")),
            (evt.EVT_RELEASED, self._count("released")),
            (evt.EVT_ABORTED, self._count("aborted")),
        ]
        self._server = self._ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        return self

    def stop(self) -> None:
        if self._server is not None:
            # shutdown() alone leaves established associations serving: end them like a crash would.
            for assoc in list(self._ae.active_associations):
                assoc.abort()
            self._server.shutdown()
            self._server = None

    def reset(self, *, status: int | Callable[[Any], int] = 0x0000) -> StorageSCP:
        """Forget what was received and answer ``status`` from now on (to share one server)."""
        with self._lock:
            self.log = ScpLog()
            self.requests = 0
            self.status = status
        return self

    @property
    def received_uids(self) -> list[str]:
        with self._lock:
            return [r.sop_instance_uid for r in self.log.received]

    def wait_for(self, predicate: Callable[[ScpLog], bool], timeout: float = 5.0) -> bool:
        """Event counters update on the server's threads: poll briefly for them to settle."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(self.log):
                    return True
            time.sleep(0.01)
        return False

    def __enter__(self) -> StorageSCP:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
