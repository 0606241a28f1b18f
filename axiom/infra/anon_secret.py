"""The deployment secret the anonymize action keys UIDs, pseudonyms and date shifts with.

``AXIOM_ANON_SECRET`` when set; otherwise a random secret generated once and kept in
``<data_dir>/anon-secret`` (mode 0600). Every worker must use the same secret, or one patient gets
different pseudonyms and one study different UIDs: in the distributed set-up set the variable (or
share the data volume, which every worker mounts anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

from axiom.config import Settings


def deployment_secret(settings: Settings) -> str:
    if settings.anon_secret:
        return settings.anon_secret
    path = settings.anon_secret_file
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two processes starting together, one writes and the other reads what it wrote.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return _read(path)


def patient_id_hash(secret: str, patient_id: str) -> str | None:
    """The ``patient_id_hash`` stored for a study: HMAC-SHA256 keyed with the deployment secret (64
    hex digits), so nobody without the secret can rebuild it by hashing a range of MRNs. None for an
    empty PatientID. (Before 0.2 it was the first 16 hex digits of a bare SHA-256: see
    docs/security.md.)"""
    if not patient_id.strip():
        return None
    key = hmac.new(secret.encode(), b"axiom patient_id_hash v1", hashlib.sha256).digest()
    return hmac.new(key, patient_id.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def _read(path: Path) -> str:
    for _ in range(100):
        text = path.read_text().strip()
        if text:
            return text
        time.sleep(0.01)  # the writer created the file and has not written yet
    raise RuntimeError(f"{path} is empty: remove it, or set AXIOM_ANON_SECRET")
