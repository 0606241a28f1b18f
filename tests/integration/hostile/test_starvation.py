"""The listener cannot be starved: idle TCP connections, idle associations and silent TLS clients
from one host leave room for a real modality (DCMTK storescu) that arrives after them."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.association import Association

from axiom.config import Settings
from tests.factories import Corpus
from tests.support.dcmtk import dcmtk_available, free_port, storescu
from tests.support.listener import running_listener
from tests.support.pki import make_pki
from tests.support.services import require

pytestmark = pytest.mark.integration

# Hostile peers come from other loopback addresses, as they would from other machines.
SILENT_HOST, SLOW_HOST = "127.0.0.2", "127.0.0.3"
CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def make_settings(settings_factory: Callable[..., Settings]) -> Callable[..., Settings]:
    def make(**overrides: object) -> Settings:
        return settings_factory(
            dicom_host="127.0.0.1", dicom_port=free_port(), spool_fsync=False, **overrides
        )

    return make


@contextmanager
def silent_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """TCP connections that never say a word (no A-ASSOCIATE-RQ, no TLS ClientHello)."""
    with ExitStack() as stack:
        sockets = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.bind((SILENT_HOST, 0))
            sock.connect(("127.0.0.1", port))
            sockets.append(sock)
        yield sockets


@contextmanager
def idle_associations(port: int, count: int) -> Iterator[list[Association]]:
    """Associations one peer establishes and then leaves idle (slow sender)."""
    ae = AE(ae_title="SLOWPOKE")
    ae.add_requested_context(CT)
    # Generous for a loaded CI machine (one 5 s wait for a rejection timed out there): the listener
    # must answer every request, accepted or rejected; storescu's own time is the starvation check.
    ae.acse_timeout = 15
    held = [
        ae.associate("127.0.0.1", port, ae_title="AXIOM", bind_address=(SLOW_HOST, 0)) for _ in range(count)
    ]
    try:
        yield held
    finally:
        for assoc in held:
            if assoc.is_established:
                assoc.abort()


def _spooled_uids(settings: Settings) -> set[str]:
    return {str(dcmread(p).SOPInstanceUID) for p in settings.spool_dir.glob("*.dcm")}


def test_fifty_idle_connections_and_associations_leave_room_for_storescu(
    make_settings: Callable[..., Settings], corpus_small: Corpus
) -> None:
    require("DCMTK", dcmtk_available(), "storescu is not installed (apt-get install dcmtk)")
    settings = make_settings()
    files = corpus_small.paths[:3]
    with (
        running_listener(settings) as server,
        silent_connections(server.server_address[1], 32),
        idle_associations(server.server_address[1], 18) as held,
    ):
        established = sum(a.is_established for a in held)
        # One peer holds at most its share; the others were told "local limit exceeded".
        assert established == settings.dicom_max_associations_per_peer
        assert all(a.is_rejected for a in held if not a.is_established)
        started = time.monotonic()
        storescu(files, "127.0.0.1", server.server_address[1], "AXIOM", timeout=30)
        elapsed = time.monotonic() - started
    assert _spooled_uids(settings) == {info.sop_instance_uid for info in corpus_small if info.path in files}
    assert elapsed < 5, f"storescu took {elapsed:.1f} s"


def test_an_idle_association_is_closed_after_the_network_timeout(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(dicom_network_timeout=1.0)
    with running_listener(settings) as server, idle_associations(server.server_address[1], 1) as held:
        assert held[0].is_established
        deadline = time.monotonic() + 10
        while held[0].is_established and time.monotonic() < deadline:
            time.sleep(0.1)
        assert held[0].is_aborted or not held[0].is_established
        assert held[0].is_aborted


def test_silent_tls_clients_do_not_block_the_handshake_of_others(
    make_settings: Callable[..., Settings], corpus_small: Corpus, tmp_path: Path
) -> None:
    pki = make_pki(tmp_path / "pki")
    settings = make_settings(dicom_tls_cert=str(pki.server_cert), dicom_tls_key=str(pki.server_key))
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    ds = dcmread(corpus_small.paths[0])
    with running_listener(settings) as server, silent_connections(server.server_address[1], 20):
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        ae.acse_timeout = ae.network_timeout = 5
        started = time.monotonic()
        assoc = ae.associate(
            "127.0.0.1", server.server_address[1], ae_title="AXIOM", tls_args=(context, "127.0.0.1")
        )
        assert assoc.is_established
        try:
            assert int(assoc.send_c_store(ds).Status) == 0
        finally:
            assoc.release()
        assert time.monotonic() - started < 5
    assert _spooled_uids(settings) == {str(ds.SOPInstanceUID)}
