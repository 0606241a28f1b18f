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

Also here, for every association Axiom requests: ``park_reactor`` (the other side of the same race,
before a send) and ``no_delay`` (Nagle off on the association's socket).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from pynetdicom import AE, evt
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


def park_reactor(assoc: Association, wait_seconds: float = 1.0) -> None:
    """Hold the association's reactor thread still before a request goes out.

    pynetdicom pauses its reactor so that the response reaches ``send_c_store`` and not the reactor,
    but its check races: the reactor flags itself paused just before it waits on the checkpoint, so
    a reactor that passed the wait before the pause was asked for still looks paused, and when it
    runs on it takes a quick peer's response as an "unexpected C-STORE service message". The send
    then waits out its timeout although the peer stored the instance. Here the checkpoint is
    cleared and the reactor seen waiting on it (a waiter of its condition) before the send.
    """
    checkpoint = assoc._reactor_checkpoint
    checkpoint.clear()
    waiters = getattr(getattr(checkpoint, "_cond", None), "_waiters", None)
    if waiters is None:  # another threading implementation: pynetdicom's own check must do
        return
    deadline = time.monotonic() + wait_seconds
    while not waiters and assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.0001)


def no_delay(event: evt.Event) -> None:
    """Turn off Nagle on the association's socket.

    pynetdicom writes a C-STORE as several PDUs; with Nagle on, the kernel holds the later ones
    until the peer ACKs the first, and a peer that delays ACKs adds ~40 ms to every store.
    """
    transport = getattr(getattr(event.assoc, "dul", None), "socket", None)
    sock = getattr(transport, "socket", None)
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
