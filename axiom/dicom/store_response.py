"""The listener's C-STORE response, encoded directly: a fixed command set of seven elements.

pynetdicom answers every C-STORE by building a pydicom dataset for the response's command set
(``primitive_to_message``: a template dataset, a validated ``setattr`` per element), encoding it
twice (once for the group length) and wrapping it in a P-DATA primitive: about 0.6 ms of the
association thread per instance, a quarter of the listener's CPU for small instances. The command
set of a C-STORE-RSP (PS3.7 9.3.1.2) is always the same elements, Implicit VR Little Endian, so the
listener sends the bytes built here instead, and hands anything else (an error comment, an
offending element, a UID that is not plain ASCII, a peer whose PDU could not hold it) to pynetdicom
as before. tests/unit/dicom/test_store_response.py checks the bytes against pynetdicom's own
encoding. The EVT_DIMSE_SENT notification is not raised for a response sent this way (nothing in
the listener listens for C-STORE responses), nor EVT_PDU_SENT for one the association thread wrote
itself (axiom/dicom/direct_send.py).
"""

from __future__ import annotations

import struct
import types
from typing import Any

from pynetdicom import evt
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.pdu_primitives import P_DATA

from axiom.dicom.direct_send import direct_sender, encode_p_data_tf, install_direct_sender

_C_STORE_RSP = 0x8001
_NO_DATA_SET = 0x0101
# PDV message control header: a command, and its last (only) fragment.
_LAST_COMMAND_FRAGMENT = 0x03
# A PDV item's own header inside the PDU: item length (4) and context id (1), plus the control byte.
_PDV_OVERHEAD = 6


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0x0000, element, len(value)) + value


def _uid(value: str) -> bytes:
    encoded = value.encode("ascii")
    return encoded + b"\0" if len(encoded) % 2 else encoded


def encode_store_response(
    message_id: int, status: int, sop_class_uid: str | None, sop_instance_uid: str | None
) -> bytes:
    """The C-STORE-RSP command set, Implicit VR Little Endian, group length first."""
    body = b"".join(
        (
            _element(0x0002, _uid(sop_class_uid)) if sop_class_uid else b"",
            _element(0x0100, struct.pack("<H", _C_STORE_RSP)),
            _element(0x0120, struct.pack("<H", message_id)),
            _element(0x0800, struct.pack("<H", _NO_DATA_SET)),
            _element(0x0900, struct.pack("<H", status)),
            _element(0x1000, _uid(sop_instance_uid)) if sop_instance_uid else b"",
        )
    )
    return _element(0x0000, struct.pack("<I", len(body))) + body


def _plain(primitive: Any) -> bool:
    """A C-STORE response this module can encode: the standard elements only, ASCII UIDs."""
    if type(primitive) is not C_STORE or primitive.MessageIDBeingRespondedTo is None:
        return False
    if primitive.ErrorComment is not None or primitive.OffendingElement is not None:
        return False
    if not isinstance(primitive.Status, int):
        return False
    uids = (primitive.AffectedSOPClassUID, primitive.AffectedSOPInstanceUID)
    return all(uid is None or str(uid).isascii() for uid in uids)


def _send_msg(self: Any, primitive: Any, context_id: int) -> None:
    if _plain(primitive):
        command = encode_store_response(
            primitive.MessageIDBeingRespondedTo,
            primitive.Status,
            primitive.AffectedSOPClassUID,
            primitive.AffectedSOPInstanceUID,
        )
        limit = self.maximum_pdu_size
        if not limit or len(command) + _PDV_OVERHEAD <= limit:
            sender = direct_sender(self.assoc)
            if sender is not None and sender.send(
                encode_p_data_tf(context_id, _LAST_COMMAND_FRAGMENT, command)
            ):
                return
            pdata = P_DATA()
            pdata.presentation_data_value_list.append(
                (context_id, bytes((_LAST_COMMAND_FRAGMENT,)) + command)
            )
            self.dul.send_pdu(pdata)
            return
    type(self).send_msg(self, primitive, context_id)


def store_response_handlers() -> list[tuple[Any, Any]]:
    """EVT_CONN_OPEN: an accepted association sends its C-STORE responses through ``_send_msg``,
    written to the socket by the association thread itself where that is safe (direct_send.py)."""

    def on_open(event: Event) -> None:
        install_direct_sender(event.assoc)
        dimse = event.assoc.dimse
        dimse.send_msg = types.MethodType(_send_msg, dimse)  # type: ignore[method-assign]

    return [(evt.EVT_CONN_OPEN, on_open)]
