"""Wake-ups instead of polling in pynetdicom's two reactor loops, for the listener's associations.

pynetdicom moves every PDU through two polling loops: the DUL thread sleeps ``_run_loop_delay``
(1 ms) whenever it finds nothing to do, and the association thread sleeps a fixed 1 ms per turn.
A C-STORE crosses both loops several times, so with one association the sleeps, not the work, set
the rate; shorter sleeps trade that for CPU spent spinning (pynetdicom issues #120 and #650).

Here a listener association's loops wait for work instead. The DUL thread waits in ``select`` on
its socket and a wake-up pipe; the association thread waits on an :class:`threading.Event`. The
queues between them are given a ``put`` that wakes the other side: a decoded message or an
A-RELEASE/A-ABORT for the association thread sets its event, a primitive to send (the C-STORE
response) written from another thread makes the pipe readable. Both waits end after ``WAIT_CAP``
at the latest, because some things reach the loops without a queue (the ARTIM and idle timers, a
kill from another thread, the DUL thread's exit); so an idle association wakes 50 times a second.

pynetdicom's loops call ``time.sleep`` through the ``time`` name of their modules; each module is
given a ``time`` of its own whose ``sleep`` waits this way only when called from the reactor loop
itself (checked by the caller's code object) on a thread that carries a waker. Every other sleep,
and every association the listener did not accept (a requestor in the same process), is the
ordinary ``time.sleep``. tests/unit/dicom/test_reactor_hooks.py checks the internals this needs.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import structlog
from pynetdicom import association, dul, evt
from pynetdicom.events import Event
from pynetdicom.pdu import P_DATA_TF

# Longest a reactor loop waits with nothing arriving (see the module docstring).
WAIT_CAP = 0.02
_WAKER = "_axiom_waker"
_MESSAGE_BYTES = "_axiom_message_bytes"
_DUL_LOOP = dul.DULServiceProvider.run_reactor.__code__
_ASSOCIATION_LOOP = association.Association._run_reactor.__code__
log = structlog.get_logger("axiom.listener")


class _Waker:
    """One association's wake-ups: an event for its association thread, a pipe for its DUL thread."""

    def __init__(self, dul_thread: threading.Thread) -> None:
        self.event = threading.Event()
        self._dul = dul_thread
        self._read_fd, self._write_fd = os.pipe()
        os.set_blocking(self._read_fd, False)
        os.set_blocking(self._write_fd, False)

    def wake_association(self) -> None:
        self.event.set()

    def wake_dul(self) -> None:
        # The DUL's own puts need no wake-up: it looks at its queues again before it waits.
        if threading.current_thread() is not self._dul:
            # A full pipe (BlockingIOError) holds earlier wake-ups: the DUL is woken already.
            with contextlib.suppress(BlockingIOError):
                os.write(self._write_fd, b"\0")

    def wait_association(self) -> None:
        # Cleared after the wait, not before: a set that lands during the loop's checks must end
        # the next wait at once (the loop looks at every queue after each wait anyway).
        self.event.wait(WAIT_CAP)
        self.event.clear()

    def wait_dul(self, assoc_socket: Any) -> bool:
        """Wait until the socket is readable, a wake-up arrives or ``WAIT_CAP``; False if the socket
        cannot be waited on (closed), so the caller sleeps the ordinary way."""
        sock = getattr(assoc_socket, "socket", None)
        if sock is None:
            return False
        try:
            ready, _, _ = select.select([sock, self._read_fd], [], [], WAIT_CAP)
        except (OSError, ValueError):
            return False
        if self._read_fd in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._read_fd, 4096)
        return True

    def __del__(self) -> None:
        # Closed only when nothing can reach the waker any more: a descriptor closed while a
        # thread might still write to it could be reused by another file in the meantime.
        for fd in (self._read_fd, self._write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class _WakingQueue(queue.Queue):
    """A ``queue.Queue`` whose ``put`` wakes a reactor loop (pynetdicom's queues are given this class)."""

    _axiom_wake: Callable[[], None]

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self._axiom_wake()


def _wake_on_put(q: queue.Queue[Any], wake: Callable[[], None]) -> None:
    q.__class__ = _WakingQueue
    q._axiom_wake = wake  # type: ignore[attr-defined]


class _ReactorClock(types.ModuleType):
    """The ``time`` module as a pynetdicom module sees it: ``sleep`` in the reactor loop waits for work."""

    def __init__(self, loop: types.CodeType, wait: Callable[[threading.Thread, _Waker, float], None]) -> None:
        super().__init__("time")
        self._loop = loop
        self._wait = wait

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        waker: _Waker | None = getattr(thread, _WAKER, None)
        if waker is None or sys._getframe(1).f_code is not self._loop:
            time.sleep(seconds)
        else:
            self._wait(thread, waker, seconds)


def _wait_association(thread: threading.Thread, waker: _Waker, seconds: float) -> None:
    waker.wait_association()


def _wait_dul(thread: threading.Thread, waker: _Waker, seconds: float) -> None:
    if not waker.wait_dul(getattr(thread, "socket", None)):
        time.sleep(seconds)


def install_reactor_wakeups() -> None:
    """Give pynetdicom's association and DUL modules the waiting ``time`` (process-wide, idempotent).

    Associations without a waker (see :func:`wakeup_handlers`) keep pynetdicom's polling."""
    association.time = _ReactorClock(_ASSOCIATION_LOOP, _wait_association)
    dul.time = _ReactorClock(_DUL_LOOP, _wait_dul)


def wakeup_handlers() -> list[tuple[Any, Any]]:
    """EVT_CONN_OPEN: give an accepted association a waker before its threads start."""

    def on_open(event: Event) -> None:
        assoc = event.assoc
        provider = assoc.dul
        waker = _Waker(provider)
        for to_association in (assoc.dimse.msg_queue, provider.to_user_queue):
            _wake_on_put(to_association, waker.wake_association)
        for to_dul in (provider.to_provider_queue, provider.event_queue):
            _wake_on_put(to_dul, waker.wake_dul)
        setattr(assoc, _WAKER, waker)
        setattr(provider, _WAKER, waker)

    return [(evt.EVT_CONN_OPEN, on_open)]


def size_limit_handler(max_message_bytes: int) -> tuple[Any, Any]:
    """EVT_PDU_RECV: abort an association whose current message grows past ``max_message_bytes``.

    pynetdicom gathers a C-STORE's P-DATA fragments in memory until the message is whole, so the
    limit has to act while it arrives, not in the C-STORE handler. The count restarts with each
    message (``message_received`` is called by the handler)."""

    def on_pdu(event: Event) -> None:
        pdu = event.pdu
        if not isinstance(pdu, P_DATA_TF):
            return
        assoc = event.assoc
        received = getattr(assoc, _MESSAGE_BYTES, 0) + len(pdu)
        setattr(assoc, _MESSAGE_BYTES, received)
        if received > max_message_bytes and not assoc.is_aborted:
            log.warning("association aborted: message over the size limit", limit=max_message_bytes)
            # Only queued for the DUL (this is its thread): abort() would wait on the DUL itself.
            assoc.acse.send_abort(0x02)

    return (evt.EVT_PDU_RECV, on_pdu)


def message_received(assoc: Any) -> None:
    setattr(assoc, _MESSAGE_BYTES, 0)
