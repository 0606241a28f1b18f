"""A one-PDU message sent by the thread that built it, for the listener's associations.

pynetdicom sends every message through the DUL thread: the association thread puts a P-DATA
primitive on the DUL's queue and wakes it; the DUL loop takes a turn, runs the state machine,
encodes the PDU and writes it. For the C-STORE response, the one message the listener sends per
instance, that hand-off is a thread wake-up and ~0.3 ms of CPU on the path the sender waits on.
Here the association thread writes the encoded P-DATA-TF PDU to the socket itself, when that is
safe, and hands it to the DUL otherwise:

* only in Sta6/Sta8 (the states where the DUL would send a P-DATA at once);
* only when no P-DATA handed to the DUL is still unsent (``pending``), so a PDU never lands
  between the fragments of a message another thread is sending (a storage commitment report on
  the same association) and messages keep their order;
* under a per-association lock that every socket write takes, so the DUL's own PDUs (release,
  abort) never interleave with it byte-wise;
* never on a TLS connection: an OpenSSL connection must not be written by one thread while
  another reads it, and the DUL thread reads whenever the peer sends.

The PDU is written with the socket's own ``send`` (a failure is the DUL's Evt17 as before).
EVT_PDU_SENT is not raised for a PDU sent this way; tests/unit/dicom/test_direct_send.py checks
the bytes equal pynetdicom's P-DATA-TF encoding and that a real association answers through it.
"""

from __future__ import annotations

import ssl
import struct
import threading
import types
from typing import Any

from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

_SENDER = "_axiom_direct_sender"
# P-DATA may be sent at once in these states (PS3.8 9.2: DT-1 in Sta6, AR-7 in Sta8).
_SENDING_STATES = frozenset({"Sta6", "Sta8"})
_P_DATA_TF = 0x04


def encode_p_data_tf(context_id: int, control: int, payload: bytes) -> bytes:
    """One P-DATA-TF PDU holding one PDV: ``payload`` with its message control header."""
    item_length = 2 + len(payload)  # context id + control header + data
    return struct.pack(">BBIIBB", _P_DATA_TF, 0, 4 + item_length, item_length, context_id, control) + payload


class DirectSender:
    """Bound to one association's DUL: counts what the DUL still has to send, guards the socket."""

    def __init__(self, dul: Any) -> None:
        self._dul = dul
        self._lock = threading.RLock()
        self.pending = 0
        self._tls = isinstance(getattr(dul.socket, "socket", None), ssl.SSLSocket)
        send_pdu = dul.send_pdu
        dul_send = dul._send

        def counting_send_pdu(primitive: Any) -> None:
            if isinstance(primitive, P_DATA):
                with self._lock:
                    self.pending += 1
            send_pdu(primitive)

        def counting_send(pdu: Any) -> None:
            try:
                dul_send(pdu)
            finally:
                if isinstance(pdu, P_DATA_TF):
                    with self._lock:
                        self.pending -= 1

        dul.send_pdu = counting_send_pdu
        dul._send = counting_send
        self._guard_socket(dul.socket)

    def _guard_socket(self, sock: Any) -> None:
        if sock is None:
            return
        plain = sock.send
        lock = self._lock

        def locked_send(self_: Any, bytestream: bytes) -> None:
            with lock:
                plain(bytestream)

        sock.send = types.MethodType(locked_send, sock)

    def send(self, pdu: bytes) -> bool:
        """Write ``pdu`` now if nothing the DUL holds must go first; False: the caller queues it."""
        if self._tls:
            return False
        dul = self._dul
        with self._lock:
            sock = dul.socket
            if self.pending or sock is None or dul.state_machine.current_state not in _SENDING_STATES:
                return False
            sock.send(pdu)
            return True


def direct_sender(assoc: Any) -> DirectSender | None:
    return getattr(assoc, _SENDER, None)


def install_direct_sender(assoc: Any) -> DirectSender:
    """Called at EVT_CONN_OPEN: the association's socket is open, nothing has been sent yet."""
    sender = DirectSender(assoc.dul)
    setattr(assoc, _SENDER, sender)
    return sender
