"""Accession numbers through the real app: recorded by routing real instances (cut to the column,
kept as received in raw_values), searched and shown by the API's study search and the console for
admins and above, refused and masked for a ``user``."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.accounts import create_user
from axiom.db.models import DicomInstance
from axiom.domain.auth import Role, UserCreate
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset
from tests.support.routing import apply_dict
from tests.unit.api.conftest import ROOT_PASSWORD, Credentials
from tests.unit.api.test_console_session import _sign_in
from tests.unit.api.test_exception_routes import runtime
from tests.unit.pipeline.test_route import _spool_dataset

__all__ = ["runtime"]
MON = "/api/v1/monitoring/studies"
LONG = "ACC-0123456789-TOO-LONG"  # 23 characters: a sender's mistake (SH holds 16)


def _route(runtime: Runtime, tmp_path: Path, accessions: list[str]) -> list[str]:
    """One study per accession number, routed for real; their Study Instance UIDs."""
    apply_dict(
        runtime, {"destinations": [{"name": "archive", "type": "filesystem"}], "rulesets": []}, tmp_path
    )
    studies = []
    for n, accession in enumerate(accessions):
        ds = make_dataset(accession=accession)
        route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / f"{n}.dcm")))
        studies.append(str(ds.StudyInstanceUID))
    return studies


def test_accession_is_recorded_cut_to_its_column(
    runtime: Runtime, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    _route(runtime, tmp_path, ["A1", LONG])
    with sessions() as session:
        rows = {r.accession_number: r.raw_values for r in session.scalars(select(DicomInstance))}
    assert rows == {"A1": None, LONG[:16]: {"AccessionNumber": LONG}}


def test_api_search_by_accession_for_admins_only(
    client: TestClient, creds: Credentials, runtime: Runtime, tmp_path: Path
) -> None:
    first, second = _route(runtime, tmp_path, ["A1", "B2"])
    found = client.get(MON, params={"accession_number": "B2"}, headers=creds.admin).json()
    assert [(s["study_instance_uid"], s["accession_numbers"]) for s in found["items"]] == [(second, ["B2"])]
    assert found["total"] == 1
    listed = client.get(MON, headers=creds.superuser).json()["items"]
    assert {s["study_instance_uid"]: s["accession_numbers"] for s in listed} == {
        first: ["A1"],
        second: ["B2"],
    }
    # A user sees the studies without their accession numbers and may not search by one.
    masked = client.get(MON, headers=creds.user).json()["items"]
    assert len(masked) == 2 and all(s["accession_numbers"] is None for s in masked)
    refused = client.get(MON, params={"accession_number": "B2"}, headers=creds.user)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert client.get(MON, params={"accession_number": "X" * 17}, headers=creds.admin).status_code == 422


def test_console_search_by_accession_and_masking(
    client: TestClient,
    creds: Credentials,
    runtime: Runtime,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    first, second = _route(runtime, tmp_path, ["A1", "B2"])
    _sign_in(client, "root", ROOT_PASSWORD)
    page = client.get("/studies", params={"accession": "A1"})
    assert page.status_code == 200 and 'id="f-acc"' in page.text
    assert first in page.text and second not in page.text and ">A1</td>" in page.text
    assert ">A1</td>" in client.get(f"/studies/{first}").text
    with sessions() as session:
        create_user(session, UserCreate(username="op", password="op-password-1", role=Role.USER), actor="t")
        session.commit()
    client.cookies.clear()
    _sign_in(client, "op", "op-password-1")
    page = client.get("/studies")
    assert first in page.text and second in page.text
    assert 'id="f-acc"' not in page.text and "A1" not in page.text and "B2" not in page.text
    assert "masked" in page.text
    assert "A1" not in client.get(f"/studies/{first}").text
    assert client.get("/studies", params={"accession": "A1"}).status_code == 403
