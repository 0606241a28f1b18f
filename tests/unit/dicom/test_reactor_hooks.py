"""The pynetdicom internals that axiom/dicom/reactor.py relies on are still there.

pyproject.toml caps pynetdicom below 4; a release inside that range that renames the DUL's
``_run_loop_delay``, stops sleeping through ``pynetdicom.association.time`` or drops ``assoc.dul`` /
``acse.send_abort`` fails here, before the listener silently loses its polling control or size limit.
Then one real association checks that the hooks take effect.
"""

from __future__ import annotations

import inspect
import threading
import time

from pynetdicom import AE, association, dul, evt
from pynetdicom.acse import ACSE
from pynetdicom.sop_class import Verification

from axiom.dicom import reactor


def test_the_patched_internals_exist() -> None:
    assert association.time is time or isinstance(association.time, reactor._AdaptiveSleep)
    assert "time.sleep(" in inspect.getsource(association.Association._run_reactor)
    assert issubclass(association.Association, threading.Thread)
    assert "time.sleep(self._run_loop_delay)" in inspect.getsource(dul.DULServiceProvider.run_reactor)
    assert "self._run_loop_delay = " in inspect.getsource(dul.DULServiceProvider.__init__)
    assert list(inspect.signature(ACSE.send_abort).parameters) == ["self", "source"]
    assert "self.dul:" in inspect.getsource(association.Association.__init__)
    assert "self.acse:" in inspect.getsource(association.Association.__init__)


def test_the_hooks_take_effect_on_a_real_association() -> None:
    seen: dict[str, object] = {}

    class Counting(reactor._AdaptiveSleep):
        def sleep(self, seconds: float) -> None:
            if getattr(threading.current_thread(), "_axiom_active_at", None) is not None:
                seen["association loop slept"] = True
            super().sleep(seconds)

    def on_echo(event: evt.Event) -> int:
        seen["delay while busy"] = event.assoc.dul._run_loop_delay
        return 0x0000

    before = association.time
    association.time = Counting(0.0002)
    ae = AE(ae_title="HOOKS")
    ae.add_supported_context(Verification)
    handlers = [*reactor.polling_handlers(0.0002), (evt.EVT_C_ECHO, on_echo)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(Verification)
        assoc = requestor.associate("127.0.0.1", server.server_address[1], ae_title="HOOKS")
        assert assoc.is_established
        assert assoc.send_c_echo().Status == 0x0000
        assoc.release()
    finally:
        server.shutdown()
        association.time = before
    assert seen == {"association loop slept": True, "delay while busy": 0.0002}
