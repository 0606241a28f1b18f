"""A response pynetdicom's association thread takes while a send waits for it goes back to the
queue (axiom/dicom/scu_ae.py, pynetdicom issue #875); requests are served as before."""

from __future__ import annotations

import time
from typing import Any

from pynetdicom import AE, evt
from pynetdicom.dimse_primitives import C_ECHO

from axiom.dicom.scu_ae import requestor_ae
from tests.factories import make_dataset


def _echo_response(message_id: int) -> C_ECHO:
    rsp = C_ECHO()
    rsp.MessageIDBeingRespondedTo = message_id
    rsp.Status = 0x0000
    return rsp


def test_a_taken_response_goes_back_to_the_front_of_the_queue_while_a_send_waits() -> None:
    ds = make_dataset()
    stored: list[Any] = []
    server_ae = AE(ae_title="SCP")
    server_ae.add_supported_context(ds.SOPClassUID)
    server = server_ae.start_server(
        ("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, lambda e: stored.append(1) or 0)]
    )
    try:
        ae = requestor_ae("SCU")
        ae.add_requested_context(ds.SOPClassUID)
        assoc = ae.associate("127.0.0.1", server.server_address[1], ae_title="SCP")
        assert assoc.is_established
        # What the race looks like from inside: a send has paused the reactor (checkpoint cleared)
        # and the association thread, let go a moment too late, takes the response from the queue.
        assoc._reactor_checkpoint.clear()
        time.sleep(0.05)  # the association thread parks at the checkpoint within a turn (1 ms)
        later = (1, _echo_response(8))
        assoc.dimse.msg_queue.put(later)
        assoc._serve_request(_echo_response(7), 1)
        first = assoc.dimse.get_msg(block=False)
        second = assoc.dimse.get_msg(block=False)
        assoc._reactor_checkpoint.set()
        assert first[1].MessageIDBeingRespondedTo == 7  # back in front, order kept
        assert second == later
        # The association still works both ways afterwards.
        assert int(assoc.send_c_store(ds).Status) == 0
        assoc.release()
    finally:
        server.shutdown()
    assert stored == [1]


def test_with_the_reactor_running_a_stray_response_is_dropped_as_before() -> None:
    ds = make_dataset()
    server_ae = AE(ae_title="SCP")
    server_ae.add_supported_context(ds.SOPClassUID)
    server = server_ae.start_server(("127.0.0.1", 0), block=False)
    try:
        ae = requestor_ae("SCU")
        ae.add_requested_context(ds.SOPClassUID)
        assoc = ae.associate("127.0.0.1", server.server_address[1], ae_title="SCP")
        assert assoc.is_established
        assoc._serve_request(_echo_response(9), 1)  # nobody waits for it: not queued again
        assert assoc.dimse.get_msg(block=False) == (None, None)
        assoc.release()
    finally:
        server.shutdown()
