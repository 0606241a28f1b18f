"""Publish again the spooled files no worker finished: the safety net behind the broker's own acks.

With RabbitMQ, acks_late already redelivers a killed worker's task, and the embedded filesystem
transport returns the claims of a dead worker to its queue (workers/fs_transport.py); this sweep
catches what both miss (a task that failed past its retries, a message lost with its broker folder).

It republishes only what is provably not in flight (issue 15, item 3): nothing while instance tasks
wait in the broker (a stale file may simply be queued behind a backlog), and never a file a worker
holds the claim on (axiom/dicom/spool_claim.py). The claim also makes a republished copy that does
meet its original harmless: the second task finds the file held or gone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydicom.filereader import read_file_meta_info

from axiom.config import Settings
from axiom.dicom.spool import Spool
from axiom.dicom.spool_claim import in_flight
from axiom.dicom.spool_slots import recover_slots
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.ports import TaskPublisher

log = structlog.get_logger("axiom.spool")


def message_for_spooled_file(path: Path, source: str = "recovered") -> InstanceMessage:
    meta = read_file_meta_info(path)
    stat = path.stat()
    return InstanceMessage(
        spool_path=str(path),
        sop_instance_uid=str(meta.get("MediaStorageSOPInstanceUID", "")),
        sop_class_uid=str(meta.get("MediaStorageSOPClassUID", "")),
        transfer_syntax_uid=str(meta.get("TransferSyntaxUID", "")),
        calling_ae=str(meta.get("SendingApplicationEntityTitle", "")),
        called_ae=str(meta.get("ReceivingApplicationEntityTitle", "")),
        source=source,
        received_at=datetime.fromtimestamp(stat.st_mtime, UTC).isoformat(),
        size_bytes=stat.st_size,
    )


def recover_spool(
    settings: Settings, publisher: TaskPublisher, queued: Callable[[], int | None] | None = None
) -> int:
    """Republish the stale spooled files no task holds; ``queued`` counts the instance tasks waiting
    in the broker (None: the broker cannot say, and the claims alone keep a copy harmless)."""
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    # First what a crash left in the slots: a complete one joins the spool (already old enough
    # to count as stale), an empty or half-written one was never acknowledged.
    recover_slots(settings.spool_dir)
    stale = spool.stale_files(settings.spool_recover_after_seconds)
    if not stale:
        return 0
    waiting = queued() if queued is not None else None
    if waiting:
        log.info("spool sweep deferred: instance tasks are queued", queued=waiting, stale=len(stale))
        return 0
    count = 0
    for path in stale:
        if in_flight(path):
            continue  # a worker is routing it right now
        try:
            message = message_for_spooled_file(path)
        except FileNotFoundError:
            continue  # finished meanwhile
        publisher.publish_instance(message)
        # Fresh mtime: the next sweep leaves it alone while the new task runs.
        os.utime(path)
        count += 1
        log.warning("republished stale spooled instance", sop_instance_uid=message.sop_instance_uid)
    return count
