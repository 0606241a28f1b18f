"""Crosswalk entries a page at a time: in key order, searchable by key prefix, masked (and not
searchable) below admin, an admin's read audited; the console's page shows the same."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from axiom.db.base import utcnow
from axiom.db.repositories import crosswalks as repo
from tests.unit.api.conftest import ROOT_PASSWORD, Credentials, audit_rows
from tests.unit.api.test_config_routes import BASE, seeded
from tests.unit.api.test_console_session import _sign_in

__all__ = ["seeded"]
URL = f"{BASE}/crosswalks/mrn/entries"


def _mrn_table(client: TestClient, creds: Credentials, sessions: sessionmaker[Session]) -> None:
    body = {"source": {"csv": "sites.csv", "key_column": "k", "value_column": "v"}}
    assert client.put(f"{BASE}/crosswalks/mrn", json=body, headers=creds.admin).status_code == 201
    with sessions() as session, session.begin():
        row = repo.get_crosswalk_rows(session, ["mrn"])["mrn"]
        new = {f"MRN{n:04d}": f"PSEUDO-{n}" for n in range(120)} | {"MRN%_1": "odd"}
        repo.replace_entries(session, row, new, now=utcnow())


def test_entries_paginated_searched_masked_and_audited(
    client: TestClient, seeded: Credentials, sessions: sessionmaker[Session]
) -> None:
    creds = seeded
    _mrn_table(client, creds, sessions)
    first = client.get(URL, headers=creds.admin).json()
    assert (first["total"], first["limit"], first["masked"]) == (121, 50, False)
    assert first["items"][0] == {"key": "MRN%_1", "value": "odd"}
    assert first["items"][1] == {"key": "MRN0000", "value": "PSEUDO-0"}
    third = client.get(URL, params={"offset": 100}, headers=creds.admin).json()
    assert [i["key"] for i in third["items"]][-1] == "MRN0119" and len(third["items"]) == 21
    found = client.get(URL, params={"prefix": "MRN011"}, headers=creds.admin).json()
    assert found["total"] == 10 and [i["key"] for i in found["items"]][:2] == ["MRN0110", "MRN0111"]
    # The prefix is text, not a LIKE pattern.
    assert client.get(URL, params={"prefix": "MRN%"}, headers=creds.admin).json()["total"] == 1
    assert client.get(URL, params={"prefix": "mrn"}, headers=creds.admin).json()["total"] == 0
    reads = audit_rows(sessions, "crosswalk.entries_read")
    assert len(reads) == 5 and {r.target for r in reads} == {"crosswalk:mrn"}
    assert all("MRN" not in str(r.details) for r in reads)  # no key or value in the audit row

    masked = client.get(URL, params={"limit": 5}, headers=creds.user).json()
    assert masked["masked"] and masked["total"] == 121
    assert masked["items"] == [{"key": "<masked>", "value": "<masked>"}] * 5
    assert "MRN" not in client.get(URL, headers=creds.user).text
    refused = client.get(URL, params={"prefix": "MRN0"}, headers=creds.user)
    assert refused.status_code == 403 and "admin" in refused.json()["detail"]
    assert len(audit_rows(sessions, "crosswalk.entries_read")) == 5  # masked reads are not audited
    assert client.get(f"{BASE}/crosswalks/nope/entries", headers=creds.admin).status_code == 404
    assert client.get(URL).status_code == 401

    # The console's page (admins only) shows the same, 50 a page.
    _sign_in(client, "root", ROOT_PASSWORD)
    listing = client.get("/admin/crosswalks")
    assert 'href="/admin/crosswalks/mrn/entries"' in listing.text
    page = client.get("/admin/crosswalks/mrn/entries")
    assert page.status_code == 200 and "121 found · page 1 of 3" in page.text
    assert page.text.count('<td class="key">') == 50 and "PSEUDO-0<" in page.text
    second = client.get("/admin/crosswalks/mrn/entries?prefix=MRN00&page=2", headers={"HX-Request": "true"})
    assert "<html" not in second.text and "100 found · page 2 of 2" in second.text
    assert "MRN0049" not in second.text and "MRN0050" in second.text and "MRN0099" in second.text
    assert client.get("/admin/crosswalks/nope/entries").status_code == 404
    assert [r.actor for r in audit_rows(sessions, "crosswalk.entries_read")][5:] == ["root", "root"]
