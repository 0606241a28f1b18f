"""The listener's directly decoded C-STORE request (axiom/dicom/store_request.py) is the primitive
pynetdicom would build, odd command sets are left to pynetdicom, and a real SCU's instances arrive
byte for byte through it."""

from __future__ import annotations

import struct
import types
from io import BytesIO
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.association import Association
from pynetdicom.dimse_messages import C_STORE_RQ, DIMSEMessage
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.sop_class import CTImageStorage

from axiom.dicom.store_request import _receive_primitive, decode_store_request, store_request_handlers
from tests.factories import make_dataset

_FIELDS = (
    "MessageID",
    "Priority",
    "AffectedSOPClassUID",
    "AffectedSOPInstanceUID",
    "MoveOriginatorApplicationEntityTitle",
    "MoveOriginatorMessageID",
)


def _command(
    message_id: int,
    sop_instance: str,
    priority: int = 2,
    originator: str | None = None,
    move_id: int | None = None,
) -> bytes:
    request = C_STORE()
    request.MessageID = message_id
    request.Priority = priority
    request.AffectedSOPClassUID = CTImageStorage
    request.AffectedSOPInstanceUID = sop_instance
    request.DataSet = BytesIO(b"")
    if originator is not None:
        request.MoveOriginatorApplicationEntityTitle = originator
    if move_id is not None:
        request.MoveOriginatorMessageID = move_id
    message = C_STORE_RQ()
    message.primitive_to_message(request)
    return bytes(encode(message.command_set, True, True))  # type: ignore[arg-type]


def _pynetdicom_primitive(command: bytes) -> Any:
    message = DIMSEMessage()
    data = P_DATA()
    data.presentation_data_value_list = [
        [1, b"\x03" + command],
        [1, b"\x02" + b"\x08\x00\x16\x00\x00\x00\x00\x00"],
    ]
    assert message.decode_msg(data)
    return message.message_to_primitive()


@pytest.mark.parametrize(
    ("message_id", "sop_instance", "priority", "originator", "move_id"),
    [
        (1, "1.2.826.0.1.3680043.8.498.1234567890123456789012345678901234", 2, None, None),
        (65535, "1.2.3", 0, None, None),  # odd UID length: padded with a NUL
        (7, "1.2.34", 1, "MOVESCU", 12),  # a C-MOVE's sub-operation
        (300, "1.2.840.113619.2.55.3.604688119.969.1268071029.320", 2, "A", 0),
    ],
)
def test_the_primitive_is_what_pynetdicom_decodes(
    message_id: int, sop_instance: str, priority: int, originator: str | None, move_id: int | None
) -> None:
    command = _command(message_id, sop_instance, priority, originator, move_id)
    ours = decode_store_request(command)
    theirs = _pynetdicom_primitive(command)
    assert ours is not None
    assert [getattr(ours, f) for f in _FIELDS] == [getattr(theirs, f) for f in _FIELDS]
    assert ours.AffectedSOPInstanceUID == sop_instance


def _element(element: int, value: bytes) -> bytes:
    return struct.pack("<HHI", 0, element, len(value)) + value


@pytest.mark.parametrize(
    "command",
    [
        _command(1, "1.2.3") + _element(0x0120, b"\x01\x00"),  # an element a C-STORE-RQ has not
        _command(1, "1.2.3")[:-3],  # cut short
        _command(1, "1.2.3") + _element(0x0110, b"\x02\x00"),  # Message ID twice
        _command(1, "1.2.3").replace(_element(0x0100, b"\x01\x00"), _element(0x0100, b"\x30\x00")),
        _command(1, "1.2.3").replace(b"1.2.3\x00", b"1.2.\xe9\x00"),  # not ASCII
        _command(1, "1.2.3").replace(b"1.2.3\x00", b"\x00\x00\x00\x00\x00\x00"),  # empty UID
        b"",
    ],
    ids=["extra-element", "truncated", "duplicate", "c-echo", "non-ascii", "empty-uid", "empty"],
)
def test_other_command_sets_are_left_to_pynetdicom(command: bytes) -> None:
    assert decode_store_request(command) is None


def _provider() -> Any:
    assoc = Association(AE(), "acceptor")
    dimse = assoc.dimse
    dimse.receive_primitive = types.MethodType(_receive_primitive, dimse)
    return dimse


def _pdata(*pdvs: tuple[int, bytes]) -> P_DATA:
    primitive = P_DATA()
    primitive.presentation_data_value_list = [list(pdv) for pdv in pdvs]
    return primitive


def test_fragments_are_gathered_until_the_last_one() -> None:
    dimse = _provider()
    command = _command(5, "1.2.3.4")
    dimse.receive_primitive(_pdata((3, b"\x03" + command), (3, b"\x00" + b"abc")))
    assert dimse.msg_queue.empty()
    dimse.receive_primitive(_pdata((3, b"\x00" + b"def")))
    dimse.receive_primitive(_pdata((3, b"\x02" + b"gh")))
    context_id, request = dimse.msg_queue.get_nowait()
    assert (context_id, request._context_id, request.MessageID) == (3, 3, 5)
    assert request.DataSet.getvalue() == b"abcdefgh"
    assert dimse.message is None  # pynetdicom's own decoder never saw it


def test_a_command_inside_a_data_set_aborts() -> None:
    dimse = _provider()
    dimse.receive_primitive(_pdata((1, b"\x03" + _command(5, "1.2.3.4")), (1, b"\x00" + b"abc")))
    dimse.receive_primitive(_pdata((1, b"\x03" + _command(6, "1.2.3.5"))))
    assert dimse.dul.event_queue.get_nowait() == "Evt19"
    assert dimse.msg_queue.empty()


def test_a_command_set_it_does_not_read_goes_to_pynetdicom_whole() -> None:
    dimse = _provider()
    odd = _command(9, "1.2.3") + _element(0x0120, b"\x01\x00")
    dimse.receive_primitive(_pdata((1, b"\x01" + odd[:20])))  # a command in two fragments
    dimse.receive_primitive(_pdata((1, b"\x03" + odd[20:]), (1, b"\x02" + b"xy")))
    _, request = dimse.msg_queue.get_nowait()
    assert request.MessageID == 9
    assert request.DataSet.getvalue() == b"xy"


@pytest.mark.parametrize("max_pdu", [16382, 0])
def test_a_real_scu_stores_through_it(max_pdu: int) -> None:
    small = make_dataset()
    large = make_dataset(rows=256, columns=256)  # ~128 KiB: eight PDUs of 16 KiB
    seen: list[tuple[Any, ...]] = []
    decoded_by_pynetdicom: list[Any] = []

    def on_store(event: evt.Event) -> int:
        request = event.request
        seen.append((request.MessageID, request.AffectedSOPInstanceUID, event.dataset.PixelData))
        return 0x0000

    ae = AE(ae_title="DIRECT")
    ae.add_supported_context(small.SOPClassUID)
    ae.maximum_pdu_size = max_pdu
    handlers = [
        *store_request_handlers(),
        (evt.EVT_C_STORE, on_store),
        (evt.EVT_DIMSE_RECV, lambda event: decoded_by_pynetdicom.append(event.message)),
    ]
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(small.SOPClassUID)
        assoc = requestor.associate("127.0.0.1", server.server_address[1], ae_title="DIRECT")
        assert assoc.is_established
        statuses = [
            int(assoc.send_c_store(ds, msg_id=n).Status) for n, ds in ((1, small), (2, large), (3, small))
        ]
        assoc.release()
    finally:
        server.shutdown()
    assert statuses == [0, 0, 0]
    assert [(n, uid) for n, uid, _ in seen] == [
        (1, small.SOPInstanceUID),
        (2, large.SOPInstanceUID),
        (3, small.SOPInstanceUID),
    ]
    assert [pixels for _, _, pixels in seen] == [small.PixelData, large.PixelData, small.PixelData]
    assert decoded_by_pynetdicom == []
