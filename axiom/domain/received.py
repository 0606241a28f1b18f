"""What every way in hands ingest: one encoded dataset and how it came, and the sink that takes it.

A source (``axiom/sources``) is given an ``IngestSink`` by whoever builds it (the poll), so plugins
never import the pipeline: the sink answers a DICOM status, ``SUCCESS`` when the instance is spooled
and queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID

SUCCESS = 0x0000


@dataclass(frozen=True)
class Received:
    """One encoded dataset (no File Meta) and how it came: what a source hands its ingest sink."""

    meta: FileMetaDataset
    data: bytes | memoryview
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: UID
    calling_ae: str
    called_ae: str
    # The source the arrival belongs to when not the role's own (a C-MOVE answered to the listener).
    source: str | None = None


# Takes one received instance, returns the DICOM status of its ingest.
IngestSink = Callable[[Received], int]
