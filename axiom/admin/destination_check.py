"""Test a destination without sending an image: each kind's plugin answers (``Destination.check``:
C-ECHO for DICOM, an authenticated QIDO-RS request for DICOMweb and the Healthcare API, a write probe
for a folder, a bucket or container probe for object stores). The answer says what the peer said; it
never quotes a credential."""

from __future__ import annotations

import time
from dataclasses import dataclass

from axiom.config import Settings
from axiom.destinations import resolve
from axiom.domain.destinations import DestinationBase


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str
    seconds: float


def check_destination(config: DestinationBase, settings: Settings) -> CheckResult:
    started = time.monotonic()
    try:
        destination = resolve(config.type)(config, settings)
        try:
            outcome = destination.check()
        finally:
            destination.close()
        ok, message = outcome.ok, outcome.message
    except Exception as exc:  # the answer is shown to a person: any failure is an answer
        ok, message = False, f"{type(exc).__name__}: {exc}"[:500]
    return CheckResult(ok, message, round(time.monotonic() - started, 3))
