"""What every way in hands ingest: one encoded dataset and how it came, and the sink that takes it.

A source (``axiom/sources``) is given an ``IngestSink`` by whoever builds it (the poll), so plugins
never import the pipeline: the sink answers a DICOM status, ``SUCCESS`` when the instance is spooled
and queued.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID

SUCCESS = 0x0000


class Prewritten(Protocol):
    """The data set already written where the spool keeps it, after a File Meta of its own (a large
    C-STORE streamed into a spool slot as it arrived, ``axiom/dicom/slot_stream.py``)."""

    def commit(self, meta: bytes) -> Path | None:
        """Make it the spooled file, durable; None when ``meta`` (encoded) is not the one written."""
        ...


@dataclass(frozen=True)
class Received:
    """One encoded dataset (no File Meta) and how it came: what a source hands its ingest sink."""

    # The File Meta to spool with; encoded already where the listener packed it with the AE titles.
    meta: FileMetaDataset | bytes
    data: bytes | memoryview
    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax: UID
    calling_ae: str
    called_ae: str
    # The source the arrival belongs to when not the role's own (a C-MOVE answered to the listener).
    source: str | None = None
    # ``data`` already lies in a spool slot: the spool commits it instead of writing it again.
    prewritten: Prewritten | None = None


# Takes one received instance, returns the DICOM status of its ingest.
IngestSink = Callable[[Received], int]
