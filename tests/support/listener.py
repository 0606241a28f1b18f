"""The C-STORE listener in-process on loopback (real pynetdicom server, spool, publisher and database),
and a pynetdicom SCU that sends whatever bytes a test wants, for hostile-input tests."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Thread

from pydicom import Dataset
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import _config, evt

from axiom.config import Settings
from axiom.db.session import create_db_engine, make_session_factory, upgrade_database
from axiom.dicom.file_meta import encode_file_meta
from axiom.dicom.scu_ae import no_delay, requestor_ae
from axiom.dicom.spool import PREAMBLE, ingest_spool
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.ingest import RefusalLog
from axiom.pipeline.known_peers import KnownPeers
from axiom.pipeline.listener import ReusePortAssociationServer, StoreHandler, make_listener
from workers.celery_app import create_app
from workers.publisher import CeleryPublisher


@contextmanager
def running_listener(settings: Settings) -> Iterator[ReusePortAssociationServer]:
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    engine = create_db_engine(settings.effective_database_url)
    handler = StoreHandler(
        ingest_spool(settings),
        CeleryPublisher(create_app(settings)),
        RefusalLog(make_session_factory(engine)),
    )
    server = make_listener(settings, handler, KnownPeers(make_session_factory(engine), refresh_seconds=0))
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        engine.dispose()


def queued_messages(settings: Settings) -> list[InstanceMessage]:
    """The task messages the embedded (filesystem) broker holds, oldest first."""
    messages = []
    for path in sorted((settings.broker_dir / "queue").glob("*.msg")):
        envelope = json.loads(path.read_text())
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, _kwargs, _embed = json.loads(body)
        messages.append(InstanceMessage.from_dict(args[0]))
    return messages


@dataclass
class RawStore:
    """One C-STORE of ``data`` as the encoded dataset, whatever it holds, under the request's UIDs."""

    sop_class_uid: str
    sop_instance_uid: str
    data: bytes


def encode(ds: Dataset) -> bytes:
    """``ds`` as an Explicit VR Little Endian encoded dataset (no File Meta)."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, ds)
    return buffer.getvalue()


def send_raw(
    port: int,
    stores: list[RawStore],
    folder: Path,
    calling_ae: str = "HOSTILE",
    transfer_syntax: str = ExplicitVRLittleEndian,
    bind_host: str = "127.0.0.1",
) -> list[int | None]:
    """Send each payload byte for byte in one association; the statuses, None where none came back.

    Each payload is written as a Part 10 file whose meta carries the request's UIDs, and pynetdicom
    (with STORE_SEND_CHUNKED_DATASET) sends a file's encoded dataset as it is, undecoded: exactly what
    a hostile SCU would put on the wire.
    """
    ae = requestor_ae(calling_ae)
    for sop_class in dict.fromkeys(s.sop_class_uid for s in stores):
        ae.add_requested_context(sop_class, transfer_syntax)
    ae.dimse_timeout = ae.acse_timeout = ae.network_timeout = 10
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title="AXIOM",
        bind_address=(bind_host, 0),
        evt_handlers=[(evt.EVT_CONN_OPEN, no_delay)],  # as the C-STORE destination does: no Nagle stalls
    )
    if not assoc.is_established:
        return [None] * len(stores)
    folder.mkdir(parents=True, exist_ok=True)
    statuses: list[int | None] = []
    chunked, _config.STORE_SEND_CHUNKED_DATASET = _config.STORE_SEND_CHUNKED_DATASET, True
    try:
        for number, store in enumerate(stores):
            meta = FileMetaDataset()
            meta.MediaStorageSOPClassUID = store.sop_class_uid
            meta.MediaStorageSOPInstanceUID = store.sop_instance_uid
            meta.TransferSyntaxUID = transfer_syntax
            path = folder / f"{number}.dcm"
            path.write_bytes(PREAMBLE + encode_file_meta(meta) + store.data)
            if not assoc.is_established:
                statuses.append(None)
                continue
            response = assoc.send_c_store(path)
            statuses.append(int(response.Status) if "Status" in response else None)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = chunked
        if assoc.is_established:
            assoc.release()
    return statuses


# Files Axiom itself keeps at the top of the data dir.
OWN_FILES = ("axiom.sqlite", "anon-secret", "jwt-secret")


def files_outside(data_dir: Path, allowed: set[str]) -> list[Path]:
    """Files under ``data_dir`` outside the ``allowed`` folders, other than Axiom's own top-level files."""
    return [
        p
        for p in data_dir.rglob("*")
        if p.is_file()
        and p.relative_to(data_dir).parts[0] not in allowed
        and not (p.parent == data_dir and p.name.startswith(OWN_FILES))
    ]
