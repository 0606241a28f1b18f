"""Storage SOP classes pynetdicom does not know: DCMTK's storescu sends a private and a retired class to
the listener, a worker's route delivers them to a real Orthanc, and Orthanc holds them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom import dcmread

from axiom.config import Settings
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.dcmtk import dcmtk_available, free_port, storescu
from tests.support.listener import queued_messages, running_listener
from tests.support.orthanc import Orthanc
from tests.support.routing import apply_dict

pytestmark = pytest.mark.integration

PRIVATE_CLASS = "1.2.826.0.1.3680043.10.543.7.1"  # under a private root: no DICOM standard class
RETIRED_US = "1.2.840.10008.5.1.4.1.1.6"  # Ultrasound Image Storage (Retired)


def _write(folder: Path, sop_class: str) -> tuple[Path, str]:
    ds = make_dataset(modality="OT", rows=8, columns=8)
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    path = folder / f"{sop_class}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, str(ds.SOPInstanceUID)


def test_unknown_storage_classes_are_accepted_and_delivered(
    settings_factory: Callable[..., Settings], orthanc: Orthanc, tmp_path: Path
) -> None:
    if not dcmtk_available():
        pytest.skip("DCMTK's storescu is not installed")
    settings = settings_factory(dicom_host="127.0.0.1", dicom_port=free_port(), spool_fsync=False)
    sent = dict(_write(tmp_path, uid) for uid in (PRIVATE_CLASS, RETIRED_US))
    with running_listener(settings) as server:
        result = storescu(sent, "127.0.0.1", server.server_address[1], settings.ae_title)
    assert result.returncode == 0, result.stderr
    messages = queued_messages(settings)
    assert sorted(m.sop_instance_uid for m in messages) == sorted(sent.values()), result.stdout

    runtime = Runtime(settings)
    try:
        apply_dict(
            runtime,
            {
                "destinations": [
                    {
                        "name": "pacs",
                        "type": "cstore",
                        "host": orthanc.host,
                        "port": orthanc.dicom_port,
                        "ae_title": orthanc.ae_title,
                    },
                ],
                "rulesets": [{"name": "main", "rules": [{"name": "all", "destinations": ["pacs"]}]}],
            },
            tmp_path,
        )
        for message in messages:
            route_instance(runtime, message)
    finally:
        runtime.close()
    assert orthanc.wait_for_instances(2) == 2
    held = {orthanc.instance_tags(uid)["SOPClassUID"]: uid for uid in sent.values()}
    assert held == {str(dcmread(path).SOPClassUID): uid for path, uid in sent.items()}


def test_switched_off_the_unknown_classes_are_refused_at_association(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    if not dcmtk_available():
        pytest.skip("DCMTK's storescu is not installed")
    settings = settings_factory(
        dicom_host="127.0.0.1", dicom_port=free_port(), spool_fsync=False, dicom_accept_any_storage=False
    )
    path, _ = _write(tmp_path, PRIVATE_CLASS)
    with running_listener(settings) as server:
        storescu([path], "127.0.0.1", server.server_address[1], settings.ae_title)
    assert queued_messages(settings) == []
    assert list(settings.spool_dir.glob("*.dcm")) == []
