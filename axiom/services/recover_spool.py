"""Publish again the spooled files no worker finished: the safety net behind the broker's own acks.

With RabbitMQ, acks_late already redelivers a killed worker's task, and the embedded filesystem
transport returns the claims of a dead worker to its queue (workers/fs_transport.py); this sweep
catches what both miss (a task that failed past its retries, a message lost with its broker folder).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import structlog
from pydicom.filereader import read_file_meta_info

from axiom.config import Settings
from axiom.dicom.spool import Spool
from axiom.domain.messages import InstanceMessage
from axiom.services.ports import TaskPublisher

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


def recover_spool(settings: Settings, publisher: TaskPublisher) -> int:
    spool = Spool(settings.spool_dir, settings.quarantine_dir, fsync=settings.spool_fsync)
    count = 0
    for path in spool.stale_files(settings.spool_recover_after_seconds):
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
