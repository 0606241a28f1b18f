"""The association thread writes a one-PDU C-STORE response to the socket itself (axiom/dicom/
direct_send.py): the bytes are pynetdicom's P-DATA-TF encoding, a real SCU gets every status, and
while the DUL still holds a P-DATA the response waits behind it in the DUL's queue."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from pynetdicom import AE, evt
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.pdu_primitives import P_DATA

from axiom.dicom.direct_send import direct_sender, encode_p_data_tf
from axiom.dicom.store_response import store_response_handlers
from tests.factories import make_dataset
from tests.support.pki import make_pki


@pytest.mark.parametrize(
    ("context_id", "control", "payload"),
    [
        (1, 0x03, b"\x00\x00\x00\x00\x04\x00\x00\x00" + b"x" * 4),
        (255, 0x02, bytes(range(256)) * 40),
        (7, 0x00, b""),
    ],
)
def test_the_pdu_is_what_pynetdicom_encodes(context_id: int, control: int, payload: bytes) -> None:
    primitive = P_DATA()
    primitive.presentation_data_value_list.append((context_id, bytes((control,)) + payload))
    pdu = P_DATA_TF()
    pdu.from_primitive(primitive)
    assert encode_p_data_tf(context_id, control, payload) == pdu.encode()


def _store_many(
    count: int, hold_from: int | None, tls: tuple[ssl.SSLContext, ssl.SSLContext] | None = None
) -> tuple[list[int], int, list[int]]:
    """Send ``count`` C-STOREs; from store ``hold_from`` on, the DUL is told a P-DATA is pending.
    Returns the statuses the SCU got, the P-DATA PDUs the acceptor's DUL sent, and the
    DirectSender's pending count seen in each handler call."""
    ds = make_dataset()
    dul_sent: list[Any] = []
    pending_seen: list[int] = []

    def on_store(event: evt.Event) -> int:
        sender = direct_sender(event.assoc)
        assert sender is not None
        if hold_from is not None and event.request.MessageID == hold_from:
            sender.pending += 1  # as if a report's fragment were still queued in the DUL
        pending_seen.append(sender.pending)
        return 0x0000

    def on_pdu_sent(event: evt.Event) -> None:
        if isinstance(event.pdu, P_DATA_TF):
            dul_sent.append(event.pdu)

    ae = AE(ae_title="DIRECT")
    ae.add_supported_context(ds.SOPClassUID)
    handlers = [*store_response_handlers(), (evt.EVT_C_STORE, on_store), (evt.EVT_PDU_SENT, on_pdu_sent)]
    server_tls, client_tls = tls or (None, None)
    server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers, ssl_context=server_tls)
    try:
        requestor = AE(ae_title="PEER")
        requestor.add_requested_context(ds.SOPClassUID)
        assoc = requestor.associate(
            "127.0.0.1",
            server.server_address[1],
            ae_title="DIRECT",
            tls_args=(client_tls, None) if client_tls else None,
        )
        assert assoc.is_established
        statuses = [int(assoc.send_c_store(ds, msg_id=n).Status) for n in range(1, count + 1)]
        assoc.release()
    finally:
        server.shutdown()
    return statuses, len(dul_sent), pending_seen


def test_responses_are_written_by_the_association_thread() -> None:
    statuses, through_dul, pending = _store_many(20, hold_from=None)
    assert statuses == [0x0000] * 20
    assert through_dul == 0  # none went through the DUL's queue
    assert pending == [0] * 20


def test_a_pending_p_data_in_the_dul_sends_the_response_through_the_dul() -> None:
    statuses, through_dul, pending = _store_many(6, hold_from=4)
    assert statuses == [0x0000] * 6
    # Stores 1-3 went directly; from 4 on the sender saw a P-DATA pending and queued behind it.
    assert through_dul == 3
    assert pending == [0, 0, 0, 1, 1, 1]


def test_a_tls_association_sends_through_the_dul(tmp_path: Path) -> None:
    # One thread must not write an OpenSSL connection while another reads it.
    pki = make_pki(tmp_path / "pki")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(pki.server_cert, pki.server_key)
    client_tls = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    client_tls.check_hostname = False
    statuses, through_dul, pending = _store_many(5, hold_from=None, tls=(server_tls, client_tls))
    assert statuses == [0x0000] * 5
    assert through_dul == 5
    assert pending == [0] * 5
