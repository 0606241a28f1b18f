"""What the rules did to an instance, on its study's page, through the real app: a real instance
routed by a real ruleset, its tag diff rebuilt from the stored header against the ruleset version
current when it was routed (not a later one), received values masked for a ``user``, and the
matched rules' actions once the header is gone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from axiom.admin.accounts import create_user
from axiom.db.models import InstanceHeader
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


def _config(value: str) -> dict[str, Any]:
    return {
        "destinations": [{"name": "archive", "type": "filesystem"}],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {
                        "name": "mr-only",
                        "when": {"tag": "Modality", "equals": "MR"},
                        "destinations": ["archive"],
                    },
                    {
                        "name": "tag",
                        "actions": [
                            {"set": {"tag": "InstitutionName", "value": value}},
                            {"delete": {"tag": "AccessionNumber"}},
                        ],
                        "destinations": ["archive"],
                    },
                ],
            }
        ],
    }


def test_study_page_shows_what_the_rules_changed(
    client: TestClient,
    creds: Credentials,
    runtime: Runtime,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    archive = tmp_path / "archive"
    config = _config("AXIOM-ROUTED")
    config["destinations"][0]["root"] = str(archive)
    apply_dict(runtime, config, tmp_path)
    ds = make_dataset(accession="A1")
    route_instance(runtime, message_for_spooled_file(_spool_dataset(runtime, ds, tmp_path / "0.dcm")))
    later = _config("AXIOM-LATER")  # a later version must not be what the page shows
    later["destinations"][0]["root"] = str(archive)
    apply_dict(runtime, later, tmp_path)
    study, sop = str(ds.StudyInstanceUID), str(ds.SOPInstanceUID)
    url = f"/studies/{study}/instances/{sop}/changes"
    assert client.get(url, follow_redirects=False).status_code in (303, 401)

    _sign_in(client, "root", ROOT_PASSWORD)
    assert f'hx-get="{url}"' in client.get(f"/studies/{study}").text
    admin = client.get(url)
    assert admin.status_code == 200 and 'data-basis="header"' in admin.text
    assert "main v1" in admin.text and "AXIOM-LATER" not in admin.text
    assert "main/tag" in admin.text and "main/mr-only" in admin.text and "Modality" in admin.text
    assert (
        "<td>InstitutionName</td><td>changed</td><td>Example General Hospital</td><td>AXIOM-ROUTED</td>"
        in (admin.text)
    )
    assert "<td>AccessionNumber</td><td>removed</td><td>A1</td>" in admin.text
    assert client.get(f"/studies/{study}/instances/1.2.3/changes").status_code == 404

    with sessions() as session:
        create_user(session, UserCreate(username="op", password="op-password-1", role=Role.USER), actor="t")
        session.commit()
    client.cookies.clear()
    _sign_in(client, "op", "op-password-1")
    user = client.get(url).text
    assert "<td>InstitutionName</td><td>changed</td><td>&lt;masked&gt;</td><td>AXIOM-ROUTED</td>" in user
    assert "Example General Hospital" not in user and ">A1<" not in user

    with sessions() as session:
        session.execute(delete(InstanceHeader))
        session.commit()
    gone = client.get(url).text
    assert 'data-basis="rules"' in gone and "no longer kept" in gone
    assert "main/tag: set:" in gone and "AXIOM-ROUTED" in gone and "delete:" in gone
