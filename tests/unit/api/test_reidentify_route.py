"""POST /api/v1/anonymize/reidentify through the real app: admins only, always audited, and the
pseudonym comes from a real anonymized delivery."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydicom import dcmread
from sqlalchemy.orm import Session, sessionmaker

from axiom.config import Settings
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict
from tests.unit.api.conftest import Credentials, audit_rows
from tests.unit.pipeline.test_route import _spool_dataset


def _anonymized_pseudonym(settings: Settings, tmp_path: Path) -> tuple[str, str]:
    settings.ensure_dirs()
    runtime = Runtime(settings)
    try:
        rules = [
            {
                "name": "anon",
                "actions": [{"anonymize": {"profile": "research-basic"}}],
                "destinations": ["out"],
            }
        ]
        apply_dict(
            runtime,
            {
                "destinations": [{"name": "out", "type": "filesystem"}],
                "rulesets": [{"name": "m", "rules": rules}],
            },
            tmp_path,
        )
        ds = make_dataset(modality="CT")
        route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "a.dcm")))
        (sent,) = (settings.destinations_root / "out").rglob("*.dcm")
        return str(dcmread(sent).PatientID), str(ds.PatientID)
    finally:
        runtime.close()


def test_admin_reidentifies_and_every_call_is_audited(
    client: TestClient,
    creds: Credentials,
    settings: Settings,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    pseudonym, original = _anonymized_pseudonym(settings, tmp_path)
    assert pseudonym != original
    body = {"pseudonym": pseudonym, "reason": "tumour board follow-up"}

    assert client.post("/api/v1/anonymize/reidentify", json=body).status_code == 401
    assert client.post("/api/v1/anonymize/reidentify", json=body, headers=creds.user).status_code == 403
    response = client.post("/api/v1/anonymize/reidentify", json=body, headers=creds.admin)
    assert response.status_code == 200, response.text
    (identity,) = response.json()
    assert identity["patient_id"] == original and identity["pseudonym"] == pseudonym

    unknown = client.post(
        "/api/v1/anonymize/reidentify", json={**body, "pseudonym": "NOPE"}, headers=creds.admin
    )
    assert unknown.status_code == 200 and unknown.json() == []
    assert (
        client.post(
            "/api/v1/anonymize/reidentify", json={**body, "reason": ""}, headers=creds.admin
        ).status_code
        == 422
    )

    rows = [(r.actor, r.target, (r.details or {}).get("reason")) for r in audit_rows(sessions, "reidentify")]
    assert rows == [
        ("api-key:deployer", pseudonym, "tumour board follow-up"),
        ("api-key:deployer", "NOPE", "tumour board follow-up"),
    ]
    # The audit trail names who asked and why, never whom they found.
    assert all(original not in str(r.details) for r in audit_rows(sessions))
