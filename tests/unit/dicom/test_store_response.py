"""The listener's directly encoded C-STORE response (axiom/dicom/store_response.py) is byte for byte
what pynetdicom would send, and it reaches a real SCU as the status the handler returned."""

from __future__ import annotations

from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.dimse_messages import C_STORE_RSP
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.sop_class import CTImageStorage

from axiom.dicom.store_response import _plain, encode_store_response, store_response_handlers
from tests.factories import make_dataset


def _pynetdicom_bytes(primitive: C_STORE) -> bytes:
    message = C_STORE_RSP()
    message.primitive_to_message(primitive)
    return bytes(encode(message.command_set, True, True))  # type: ignore[arg-type]


def _response(status: int, message_id: int, sop_class: str | None, sop_instance: str | None) -> C_STORE:
    rsp = C_STORE()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.Status = status
    if sop_class:
        rsp.AffectedSOPClassUID = sop_class
    if sop_instance:
        rsp.AffectedSOPInstanceUID = sop_instance
    return rsp


@pytest.mark.parametrize(
    ("status", "message_id", "sop_class", "sop_instance"),
    [
        (0x0000, 1, CTImageStorage, "1.2.826.0.1.3680043.8.498.1234567890123456789012345678901234"),
        (0xA700, 65535, "1.2.840.10008.5.1.4.1.1.4", "1.2.3"),  # odd and even UID lengths
        (0xC211, 7, "1.2.840.10008.5.1.4.1.1.7", "1.2.34"),
        (0xA701, 2, None, None),  # a failure answered without the UIDs
        (0xB007, 300, CTImageStorage, None),
    ],
)
def test_the_bytes_are_what_pynetdicom_encodes(
    status: int, message_id: int, sop_class: str | None, sop_instance: str | None
) -> None:
    rsp = _response(status, message_id, sop_class, sop_instance)
    assert _plain(rsp)
    assert encode_store_response(message_id, status, sop_class, sop_instance) == _pynetdicom_bytes(rsp)


def test_a_response_with_an_error_comment_is_left_to_pynetdicom() -> None:
    rsp = _response(0xC000, 1, CTImageStorage, "1.2.3")
    rsp.ErrorComment = "cannot understand"
    assert not _plain(rsp)
    request = C_STORE()
    request.MessageID = 1
    assert not _plain(request)  # a request, not a response


@pytest.mark.parametrize("status", [0x0000, 0xA700])
def test_a_real_scu_gets_the_status_and_uids_through_the_direct_encoding(status: int) -> None:
    ds = make_dataset()
    seen: list[Any] = []

    def on_store(event: evt.Event) -> int:
        seen.append(event.assoc.dimse.send_msg)
        return status

    ae = AE(ae_title="DIRECT")
    ae.add_supported_context(ds.SOPClassUID)
    handlers = [*store_response_handlers(), (evt.EVT_C_STORE, on_store)]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(ds.SOPClassUID)
        received: list[Any] = []
        assoc = requestor.associate(
            "127.0.0.1",
            server.server_address[1],
            ae_title="DIRECT",
            evt_handlers=[(evt.EVT_DIMSE_RECV, lambda event: received.append(event.message.command_set))],
        )
        assert assoc.is_established
        answers = [assoc.send_c_store(ds, msg_id=n) for n in (1, 2, 3)]
        assoc.release()
    finally:
        server.shutdown()
    assert [int(a.Status) for a in answers] == [status] * 3
    assert [
        (c.MessageIDBeingRespondedTo, c.AffectedSOPInstanceUID, c.AffectedSOPClassUID) for c in received
    ] == [(n, ds.SOPInstanceUID, ds.SOPClassUID) for n in (1, 2, 3)]
    assert all(getattr(m, "__func__", None) is not None and m.__func__.__name__ == "_send_msg" for m in seen)
