"""Read a PDU from the socket in one buffer instead of 4 KiB pieces, for the listener's associations.

pynetdicom's ``AssociationSocket.recv(n)`` gathers a PDU with ``socket.recv(4096)`` calls appended to
a bytearray: a 128 KiB P-DATA PDU (what DCMTK's storescu sends) takes 32 calls and as many
temporary bytes objects, a CT-size instance some 130. Here the PDU is read with ``recv_into`` into
one buffer of its final size, as large as the kernel has ready per call. Same contract: returns
what was read, short only when the peer closed; errors propagate as before.
"""

from __future__ import annotations

import types
from typing import Any

from pynetdicom import evt
from pynetdicom.events import Event


def _recv_whole(self: Any, nr_bytes: int) -> bytearray:
    buffer = bytearray(nr_bytes)
    view = memoryview(buffer)
    read = 0
    try:
        while read < nr_bytes:
            got = self.socket.recv_into(view[read:], nr_bytes - read)
            if not got:
                break  # the peer closed: what we have so far, as pynetdicom's own recv
            read += got
    finally:
        view.release()
    if read < nr_bytes:
        del buffer[read:]
    return buffer


def bulk_recv_handlers() -> list[tuple[Any, Any]]:
    """EVT_CONN_OPEN: an accepted association's socket reads each PDU in one buffer."""

    def on_open(event: Event) -> None:
        sock = event.assoc.dul.socket
        if sock is not None:
            sock.recv = types.MethodType(_recv_whole, sock)  # type: ignore[method-assign]

    return [(evt.EVT_CONN_OPEN, on_open)]
