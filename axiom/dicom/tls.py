"""TLS for DICOM associations (PS3.15 Annex B secure transport): contexts for the listener and for
C-STORE destinations, from PEM files. TLS 1.2 or newer; certificates are always verified against
the given CA, except that a listener without a CA does not ask clients for one."""

from __future__ import annotations

import ssl


def server_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """The listener's context; with ``client_ca_file``, every client must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(cafile=client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def client_context(ca_file: str, cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """A destination's context: the peer's certificate must chain to ``ca_file``; with a certificate
    and key, Axiom authenticates itself too (peers that require client certificates)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context
