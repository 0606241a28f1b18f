"""``dicom_studies.patient_id_hash`` is an HMAC keyed with the deployment secret: hashing a range of
MRNs without the secret does not find a patient."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import text

from axiom.infra.anon_secret import deployment_secret, patient_id_hash
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.unit.pipeline.test_route import _spool_dataset, runtime

__all__ = ["runtime"]


def test_stored_patient_hash_is_keyed_with_the_deployment_secret(runtime: Runtime, tmp_path: Path) -> None:
    ds = make_dataset(modality="CT")
    ds.PatientID = "MRN-0042"
    message = message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "ct.dcm"), source="listener")
    assert route_instance(runtime, message) is not None
    with runtime.engine.connect() as conn:
        (stored,) = conn.execute(text("SELECT patient_id_hash FROM dicom_studies")).scalars()
    bare = hashlib.sha256(b"MRN-0042").hexdigest()
    assert stored == patient_id_hash(deployment_secret(runtime.settings), "MRN-0042")
    assert stored[:16] != bare[:16] and len(stored) == 64
    assert patient_id_hash("another deployment's secret", "MRN-0042") != stored
    assert patient_id_hash("s", " ") is None
