"""Test a destination without sending an image: C-ECHO for DICOM, an authenticated QIDO-RS request
for DICOMweb and the Healthcare API, a write probe for a folder. The answer says what the peer said;
it never quotes a credential."""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from axiom.config import Settings
from axiom.destinations import resolve
from axiom.domain.destinations import (
    CStoreDestinationConfig,
    DestinationBase,
    FilesystemDestinationConfig,
)

ECHO_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    seconds: float


def check_destination(config: DestinationBase, settings: Settings) -> CheckResult:
    started = time.monotonic()
    try:
        ok, message = _check(config, settings)
    except Exception as exc:  # the answer is shown to a person: any failure is an answer
        ok, message = False, f"{type(exc).__name__}: {exc}"[:500]
    return CheckResult(ok, message, round(time.monotonic() - started, 3))


def _check(config: DestinationBase, settings: Settings) -> tuple[bool, str]:
    if isinstance(config, CStoreDestinationConfig):
        return _echo(config)
    if isinstance(config, FilesystemDestinationConfig):
        return _folder(config, settings)
    kind = str(getattr(config, "type", ""))
    if kind in ("stowrs", "healthcare"):
        return _qido(config, settings)
    return False, f"testing a {kind} destination is not supported yet; send a dry-run instance instead"


def _echo(config: CStoreDestinationConfig) -> tuple[bool, str]:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

    from axiom.dicom.tls import client_context

    ae = AE(ae_title=config.calling_ae_title)
    ae.add_requested_context(Verification)
    timeout = min(config.timeout_seconds, ECHO_TIMEOUT_SECONDS)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    ae.connection_timeout = timeout
    tls_args = None
    if config.tls is not None:
        context = client_context(config.tls.ca_file, config.tls.cert_file or "", config.tls.key_file or "")
        tls_args = (context, config.tls.server_hostname or config.host)
    peer = f"{config.ae_title}@{config.host}:{config.port}"
    assoc = ae.associate(config.host, config.port, ae_title=config.ae_title, tls_args=tls_args)
    if not assoc.is_established:
        if assoc.is_rejected:
            return False, f"{peer} rejected the association (check the AE titles)"
        return False, f"no association with {peer}: connection refused, timed out or aborted"
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    code = getattr(status, "Status", None)
    if code == 0x0000:
        return True, f"C-ECHO to {peer} succeeded (status 0x0000)"
    return False, f"C-ECHO to {peer} answered status {code!r}"


def _folder(config: FilesystemDestinationConfig, settings: Settings) -> tuple[bool, str]:
    root = Path(config.root) if config.root else settings.destinations_root / config.name
    root.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".axiom-test-", dir=root)
    os.close(fd)
    os.unlink(probe)
    return True, f"{root} exists and is writable"


def _qido(config: DestinationBase, settings: Settings) -> tuple[bool, str]:
    destination = resolve(str(getattr(config, "type", "")))(config, settings)
    try:
        http = destination.make_session()  # type: ignore[attr-defined]
        url = f"{destination.service_url()}/studies"  # type: ignore[attr-defined]
        response = http.get(
            url, params={"limit": "1"}, headers={"Accept": "application/dicom+json"}, timeout=10
        )
    finally:
        destination.close()
    if response.status_code in (200, 204):
        return True, f"QIDO-RS GET {url} answered {response.status_code} with the configured credentials"
    return False, f"QIDO-RS GET {url} answered {response.status_code} {response.reason}"
