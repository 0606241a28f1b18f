"""The listener's whole-PDU socket reads (axiom/dicom/bulk_recv.py): a CT-size C-STORE arrives byte
for byte through a real association, and a peer that closes mid-PDU yields what it sent."""

from __future__ import annotations

import socket
import types
from io import BytesIO

from pydicom import dcmread
from pynetdicom import AE, evt
from pynetdicom.sop_class import CTImageStorage

from axiom.dicom.bulk_recv import _recv_whole, bulk_recv_handlers
from tests.factories import make_dataset


def test_a_ct_size_instance_arrives_whole_through_the_bulk_reads() -> None:
    ds = make_dataset()
    ds.Rows = ds.Columns = 512
    ds.BitsAllocated = 16
    ds.PixelData = bytes(range(256)) * (512 * 512 * 2 // 256)
    received: list[bytes] = []
    readers: list[object] = []

    def on_store(event: evt.Event) -> int:
        readers.append(event.assoc.dul.socket.recv)
        received.append(event.request.DataSet.getvalue())
        return 0x0000

    ae = AE(ae_title="BULK")
    ae.add_supported_context(CTImageStorage)
    ae.maximum_pdu_size = 0
    server = ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[*bulk_recv_handlers(), (evt.EVT_C_STORE, on_store)]
    )
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(CTImageStorage)
        requestor.maximum_pdu_size = 16384
        assoc = requestor.associate("127.0.0.1", server.server_address[1], ae_title="BULK")
        assert assoc.is_established
        assert assoc.send_c_store(ds).Status == 0x0000
        assoc.release()
    finally:
        server.shutdown()
    assert isinstance(readers[0], types.MethodType) and readers[0].__func__ is _recv_whole
    stored = dcmread(BytesIO(received[0]), force=True)
    assert stored.SOPInstanceUID == ds.SOPInstanceUID
    assert stored.PixelData == ds.PixelData


def test_a_peer_that_closes_mid_pdu_yields_what_it_sent() -> None:
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(b"0123456789")
        theirs.close()
        holder = types.SimpleNamespace(socket=ours)
        assert _recv_whole(holder, 100) == bytearray(b"0123456789")
    finally:
        ours.close()
