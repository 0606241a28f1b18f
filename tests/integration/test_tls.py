"""DICOM over TLS both ways, with real DCMTK peers: storescu to Axiom's listener, and Axiom's
C-STORE destination to a storescp that requires client certificates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydicom import dcmread

from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from tests.factories import Corpus
from tests.integration.stack import AxiomStack, running_stack, wait_for
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.pki import Pki, make_pki
from tests.support.routing import apply_dict, fresh_runtime
from tests.unit.pipeline.test_route import _spool_dataset

pytestmark = pytest.mark.integration


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
def tls_stack(tmp_path: Path, pki: Pki) -> Iterator[AxiomStack]:
    env = {
        "AXIOM_DICOM_TLS_CERT": str(pki.server_cert),
        "AXIOM_DICOM_TLS_KEY": str(pki.server_key),
        "AXIOM_DICOM_TLS_CLIENT_CA": str(pki.ca),
    }
    with running_stack("embedded", tmp_path / "axiom", env) as stack:
        yield stack


def test_listener_takes_tls_with_a_client_certificate_only(
    tls_stack: AxiomStack, pki: Pki, corpus_small: Corpus
) -> None:
    archive = tls_stack.data_dir / "archive"
    tls_stack.apply(
        {
            "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
            "rulesets": [{"name": "m", "rules": [{"name": "all", "destinations": ["archive"]}]}],
        }
    )
    tls_stack.start("up")
    plain, secure = corpus_small.paths[:2], corpus_small.paths[2:5]

    storescu(plain, "127.0.0.1", tls_stack.dicom_port, "AXIOM")  # no TLS: refused at the handshake
    storescu(
        secure,
        "127.0.0.1",
        tls_stack.dicom_port,
        "AXIOM",
        extra_args=["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca)],
    )
    storescu(  # TLS without a client certificate: the listener requires one
        plain, "127.0.0.1", tls_stack.dicom_port, "AXIOM", extra_args=["+tla", "+cf", str(pki.ca)]
    )

    wait_for(lambda: len(list(archive.rglob("*.dcm"))) >= len(secure), 60, "the TLS sends in the archive")
    received = {str(dcmread(p).SOPInstanceUID) for p in archive.rglob("*.dcm")}
    assert received == {info.sop_instance_uid for info in corpus_small if info.path in secure}


def test_cstore_destination_speaks_tls_to_a_peer_that_requires_it(
    tmp_path: Path, pki: Pki, corpus_small: Corpus
) -> None:
    tls_args = ["+tls", str(pki.server_key), str(pki.server_cert), "+cf", str(pki.ca)]
    with (
        StoreSCP(tmp_path / "scp", extra_args=tls_args) as scp,
        fresh_runtime(tmp_path / "data") as runtime,
    ):
        peer = {
            "name": "secure-pacs",
            "type": "cstore",
            "host": "127.0.0.1",
            "port": scp.port,
            "ae_title": "STORESCP",
        }
        tls = {"ca_file": str(pki.ca), "cert_file": str(pki.client_cert), "key_file": str(pki.client_key)}
        apply_dict(
            runtime,
            {
                # The plain association gets no answer from a TLS port: a short timeout ends it.
                "destinations": [
                    {**peer, "tls": tls},
                    {**peer, "name": "plain-pacs", "timeout_seconds": 3},
                ],
                "rulesets": [
                    {"name": "m", "rules": [{"name": "all", "destinations": ["secure-pacs", "plain-pacs"]}]}
                ],
            },
            tmp_path,
        )
        ds = dcmread(corpus_small.paths[0])
        outcome = route_instance(
            runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "a.dcm"))
        )
        assert outcome is not None and outcome.delivered == ["secure-pacs"]
        (received,) = scp.received_files()
        assert dcmread(received).SOPInstanceUID == ds.SOPInstanceUID
