"""Types that travel with an instance from the listener to the destinations."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from pydicom import Dataset


class InstanceStatus(StrEnum):
    RECEIVED = "received"
    PROCESSING = "processing"
    DELIVERED = "delivered"  # every destination has it
    PARTIAL = "partial"  # some destinations hold an exception entry instead
    FAILED = "failed"  # every destination failed (each has its exception entry)
    NO_MATCH = "no_match"  # no rule matched: kept in quarantine, recorded
    QUARANTINED = "quarantined"  # unreadable or refused: kept in quarantine with an exception row
    WAITING = "waiting"  # held for a series/study-complete rule until its group fires


@dataclass(frozen=True)
class OutgoingInstance:
    """What a destination sends: the (possibly morphed) dataset, and the spooled file when unchanged.

    ``source_file`` is set only when its bytes are exactly ``dataset`` as received, so a destination may
    copy it instead of re-encoding.
    """

    dataset: Dataset
    source_file: Path | None
    sop_instance_uid: str
    study_instance_uid: str
    # sha256 of the dataset as received (axiom.dicom.spool.dataset_digest): the delivery ledger's key.
    content_hash: str = ""
