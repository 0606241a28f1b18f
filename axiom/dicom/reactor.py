"""Shorter polling in pynetdicom's reactors while an association is busy, for the listener only.

pynetdicom moves every PDU through two polling loops: the DUL thread sleeps ``_run_loop_delay``
(1 ms) whenever it finds nothing to do, and the association thread sleeps a fixed 1 ms per turn.
A C-STORE crosses both loops several times, so with one association the sleeps, not the work,
set the rate (pynetdicom issues #120 and #650 discuss the trade-off). The DUL delay is an
attribute pynetdicom reads per association; the association loop's 1 ms is a literal, so the
``time`` module that pynetdicom.association sees is given a sleep of its own.

Short sleeps cost CPU, so they are kept for associations that are busy: a PDU received marks its
association active; one that has received nothing for ``IDLE_AFTER`` seconds (an idle modality, or
a peer that opens associations only to hold them) sleeps ``IDLE_SLEEP`` per turn in both loops.
Without this, a few dozen idle associations would keep both CPUs busy polling and starve the rest.
"""

from __future__ import annotations

import threading
import time
import types
from typing import Any

import structlog
from pynetdicom import association, evt
from pynetdicom.events import Event
from pynetdicom.pdu import P_DATA_TF

IDLE_AFTER = 0.5
IDLE_SLEEP = 0.02
_ACTIVE = "_axiom_active_at"
_MESSAGE_BYTES = "_axiom_message_bytes"
log = structlog.get_logger("axiom.listener")


class _AdaptiveSleep(types.ModuleType):
    def __init__(self, interval: float) -> None:
        super().__init__("time")
        self._interval = interval

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        thread = threading.current_thread()
        active_at = getattr(thread, _ACTIVE, None)
        if active_at is None:
            time.sleep(seconds)  # not a listener association (a requestor in the same process)
        elif time.monotonic() - active_at > IDLE_AFTER:
            # Idle: slow both loops down; the next PDU received speeds them up again.
            thread.dul._run_loop_delay = IDLE_SLEEP  # type: ignore[attr-defined]
            time.sleep(max(seconds, IDLE_SLEEP))
        else:
            time.sleep(min(seconds, self._interval))


def shorten_association_polling(interval: float) -> None:
    """Cap the association reactor's sleeps at ``interval`` seconds while busy (process-wide, idempotent)."""
    association.time = _AdaptiveSleep(interval)


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


def polling_handlers(interval: float) -> list[tuple[Any, Any]]:
    """EVT_CONN_OPEN and EVT_PDU_RECV handlers: a connection starts slow (a silent one costs little)
    and every PDU received makes its association's loops fast."""

    def on_open(event: Event) -> None:
        setattr(event.assoc, _ACTIVE, time.monotonic() - IDLE_AFTER)
        event.assoc.dul._run_loop_delay = IDLE_SLEEP

    def on_pdu(event: Event) -> None:
        setattr(event.assoc, _ACTIVE, time.monotonic())
        event.assoc.dul._run_loop_delay = interval

    return [(evt.EVT_CONN_OPEN, on_open), (evt.EVT_PDU_RECV, on_pdu)]
