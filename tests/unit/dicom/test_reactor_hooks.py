"""The pynetdicom internals that axiom/dicom/reactor.py relies on are still there, and work.

pyproject.toml caps pynetdicom below 4; a release inside that range that stops sleeping through
the ``time`` of ``pynetdicom.association`` / ``pynetdicom.dul`` in its reactor loops, renames the
queues between the loops or drops ``assoc.dul`` / ``acse.send_abort`` fails here, before the listener
silently falls back to polling or loses its size limit. Then real associations check that the
loops wait for work: answers come at once, and an idle association's threads barely wake.
"""

from __future__ import annotations

import inspect
import queue
import threading
import time
from typing import Any

from pynetdicom import AE, association, dimse, dul, evt
from pynetdicom.acse import ACSE
from pynetdicom.sop_class import Verification

from axiom.dicom import reactor


def test_the_patched_internals_exist() -> None:
    assert "time.sleep(0.001)" in inspect.getsource(association.Association._run_reactor)
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(dul.DULServiceProvider.run_reactor)
    assert issubclass(association.Association, threading.Thread)
    assert issubclass(dul.DULServiceProvider, threading.Thread)
    for name in ("to_provider_queue", "to_user_queue", "event_queue"):
        assert f"self.{name}" in inspect.getsource(dul.DULServiceProvider.__init__)
    assert "self.msg_queue" in inspect.getsource(dimse.DIMSEServiceProvider.__init__)
    assert list(inspect.signature(ACSE.send_abort).parameters) == ["self", "source"]
    assert "self.dul:" in inspect.getsource(association.Association.__init__)
    assert "self.dimse:" in inspect.getsource(association.Association.__init__)


def test_a_listener_association_waits_for_work_instead_of_polling() -> None:
    accepted: list[association.Association] = []

    def on_echo(event: evt.Event) -> int:
        accepted.append(event.assoc)
        return 0x0000

    reactor.install_reactor_wakeups()
    ae = AE(ae_title="HOOKS")
    ae.add_supported_context(Verification)
    handlers = [*reactor.wakeup_handlers(), (evt.EVT_C_ECHO, on_echo)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(Verification)
        assoc = requestor.associate("127.0.0.1", server.server_address[1], ae_title="HOOKS")
        assert assoc.is_established
        started = time.perf_counter()
        for _ in range(50):
            assert assoc.send_c_echo().Status == 0x0000
        per_echo = (time.perf_counter() - started) / 50
        acceptor = accepted[0]
        # The accepted side got its waker and its queues wake; the requestor kept pynetdicom's own.
        assert isinstance(getattr(acceptor, reactor._WAKER), reactor._Waker)
        assert isinstance(acceptor.dul.to_provider_queue, reactor._WakingQueue)
        assert type(assoc.dul.to_provider_queue) is queue.Queue
        # Woken, not polled: an echo does not wait out the 20 ms cap (nor a 1 ms poll per loop).
        assert per_echo < reactor.WAIT_CAP / 2
        # Idle for half a second: both acceptor loops wait (select / Event) up to the cap each turn,
        # about 25 turns; polling at pynetdicom's 1 ms would be some 500.
        waker = getattr(acceptor, reactor._WAKER)
        turns = {"association": 0, "dul": 0}

        def counted(name: str, wait: Any) -> Any:
            def wrapper(*args: Any) -> Any:
                turns[name] += 1
                return wait(*args)

            return wrapper

        waker.wait_association = counted("association", waker.wait_association)
        waker.wait_dul = counted("dul", waker.wait_dul)
        time.sleep(0.5)
        assert 5 <= turns["association"] <= 40, turns
        assert 5 <= turns["dul"] <= 40, turns
        assoc.release()
        assert assoc.is_released
    finally:
        server.shutdown()
