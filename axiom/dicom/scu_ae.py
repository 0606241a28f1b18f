"""An AE for the associations Axiom requests, with pynetdicom's fast-response race closed.

A pynetdicom requestor pauses its association thread before each ``send_*()`` so that thread does
not take the response off the queue: ``_reactor_checkpoint.clear()``, then it waits for
``_is_paused``. But ``_is_paused`` is still True from the previous pause when the thread has just
been let go and not yet run (pynetdicom issue #875: sporadic "Received unexpected C-FIND service
message"). The send goes ahead, a fast peer answers within that window, the association thread
takes the response, finds it is no request, drops it with that warning, and the send waits out
the DIMSE timeout and aborts: a store the peer has made is reported failed and sent again. A
listener that answers within a millisecond (ours, since it writes its C-STORE responses itself)
makes this common for DCMTK-speed senders built on pynetdicom.

Here a response the association thread takes while a send is waiting (the checkpoint still
cleared) goes back to the front of the queue it came from, where the waiting ``get_msg`` finds it.
Requests are served as before. tests/unit/dicom/test_scu_ae.py checks both on a real association.
"""

from __future__ import annotations

from typing import Any

from pynetdicom import AE
from pynetdicom.association import Association

_serve_request = Association._serve_request


def _serve_or_return(self: Association, msg: Any, context_id: int) -> None:
    if not msg.is_valid_request and not self._reactor_checkpoint.is_set():
        waiting = self.dimse.msg_queue
        with waiting.mutex:
            waiting.queue.appendleft((context_id, msg))
            waiting.unfinished_tasks += 1
            waiting.not_empty.notify()
        return
    _serve_request(self, msg, context_id)


def close_response_race() -> None:
    """Idempotent: every association in this process keeps a response its send is waiting for."""
    Association._serve_request = _serve_or_return  # type: ignore[method-assign]


def requestor_ae(ae_title: str) -> AE:
    close_response_race()
    return AE(ae_title=ae_title)
