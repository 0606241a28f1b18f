"""UIDs are data, never paths: the real listener refuses every UID outside the PS3.5 9.1 grammar with
a status and a quarantine row, and a forged task message cannot make the worker touch another file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from sqlalchemy import create_engine, text

from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.dcmtk import free_port
from tests.support.listener import (
    RawStore,
    encode,
    files_outside,
    queued_messages,
    running_listener,
    send_raw,
)

pytestmark = pytest.mark.integration

CT = "1.2.840.10008.5.1.4.1.1.2"
GOOD = "1.2.826.0.1.3680043.8.498.1"
ALLOWED = {"spool", "quarantine", "exceptions", "destinations", "broker", "results"}


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    return settings_factory(dicom_host="127.0.0.1", dicom_port=free_port(), spool_fsync=False)


def _payload(**uids: Any) -> bytes:
    ds = make_dataset(modality="CT", rows=8, columns=8)
    for keyword, value in uids.items():
        setattr(ds, keyword, value)
    return encode(ds)


def _exception_rows(settings: Settings) -> list[Any]:
    engine = create_engine(settings.effective_database_url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT stage, sop_instance_uid, file_path, message FROM exception_logs ORDER BY id")
        ).all()
    engine.dispose()
    return list(rows)


HOSTILE = {
    "path in the request and dataset": {"SOPInstanceUID": "../destinations/x/INJECTED"},
    "path in the study UID": {"StudyInstanceUID": "1.2/../../../etc"},
    "leading zero": {"SeriesInstanceUID": "1.2.03.4"},
    "over 64 characters": {"StudyInstanceUID": "1." + "2" * 80},
    "letters": {"SeriesInstanceUID": "1.2.abc"},
    "dataset differs from the request": {"SOPInstanceUID": "1.2.3.4.5"},
}


def test_every_bad_uid_is_refused_with_a_status_and_a_quarantine_row(
    settings: Settings, tmp_path: Path
) -> None:
    stores = []
    for case in HOSTILE.values():
        request_uid = case.get("SOPInstanceUID", GOOD) if "../" in case.get("SOPInstanceUID", "") else GOOD
        stores.append(RawStore(CT, request_uid, _payload(SOPClassUID=CT, **{"SOPInstanceUID": GOOD, **case})))
    stores.append(RawStore(CT, GOOD, _payload(SOPClassUID=CT, SOPInstanceUID=GOOD)))  # the one good store

    with running_listener(settings) as server:
        statuses = send_raw(server.server_address[1], stores, tmp_path / "sent")

    assert statuses[:-1] == [0xC000] * len(HOSTILE), dict(zip(HOSTILE, statuses, strict=False))
    assert statuses[-1] == 0x0000
    rows = _exception_rows(settings)
    assert len(rows) == len(HOSTILE)
    assert {r.stage for r in rows} == {"ingest"}
    # The bad value is not kept as a UID (it could be anything); the file is in the quarantine.
    assert all(r.sop_instance_uid in ("", GOOD) for r in rows)
    assert all(Path(r.file_path).parent == settings.quarantine_dir for r in rows)
    assert all(Path(r.file_path).is_file() for r in rows)
    assert not any("../" in r.message for r in rows)
    assert [m.sop_instance_uid for m in queued_messages(settings)] == [GOOD]
    assert files_outside(settings.data_path, ALLOWED) == []
    assert not (settings.data_path / "destinations" / "x").exists()


def test_a_forged_task_cannot_name_a_file_outside_the_spool(settings: Settings, tmp_path: Path) -> None:
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    victim = settings.destinations_root / "archive" / "victim.dcm"
    victim.parent.mkdir(parents=True)
    victim.write_bytes(b"precious")
    runtime = Runtime(settings)
    try:
        for forged in (
            str(victim),
            str(settings.spool_dir / ".." / "destinations" / "archive" / "victim.dcm"),
        ):
            message = InstanceMessage(
                forged, GOOD, CT, "1.2.840.10008.1.2.1", "A", "AXIOM", "listener", "", 0
            )
            assert route_instance(runtime, message) is None
    finally:
        runtime.close()
    assert victim.read_bytes() == b"precious"
    assert list(settings.quarantine_dir.iterdir()) == []


def test_a_good_instance_still_passes(settings: Settings, tmp_path: Path) -> None:
    ds = make_dataset(modality="CT", rows=8, columns=8)
    store = RawStore(str(ds.SOPClassUID), str(ds.SOPInstanceUID), encode(ds))
    with running_listener(settings) as server:
        assert send_raw(server.server_address[1], [store], tmp_path / "sent") == [0]
    spooled = list(settings.spool_dir.glob("*.dcm"))
    assert len(spooled) == 1 and dcmread(spooled[0]).SOPInstanceUID == ds.SOPInstanceUID
