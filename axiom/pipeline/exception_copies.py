"""Own copies of instances whose delivery failed, so the spool can be emptied and a retry has its data."""

from __future__ import annotations

import os
import time
import uuid
from io import BytesIO
from pathlib import Path

from pydicom import Dataset, dcmwrite

from axiom.dicom.atomic import atomic_write
from axiom.domain.instances import OutgoingInstance


def keep_copy(instance: OutgoingInstance, exceptions_dir: Path, *, fsync: bool = True) -> Path:
    exceptions_dir.mkdir(parents=True, exist_ok=True)
    # Named by Axiom, never by a received value: the row holds the UID, the name only has to be unique.
    target = exceptions_dir / f"{time.time_ns()}-{uuid.uuid4().hex[:12]}.dcm"
    if instance.source_file is not None:
        try:
            # Same bytes, no re-encode; a hard link costs nothing and survives the spool's unlink.
            os.link(instance.source_file, target)
            return target
        except OSError:
            pass
    atomic_write(target, (encode(instance.dataset),), fsync=fsync)
    return target


def encode(dataset: Dataset) -> bytes:
    buffer = BytesIO()
    dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()
