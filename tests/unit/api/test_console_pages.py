"""Console pages through the real app: a study's timeline and its discard button, the exception
log's filters, and where the ruleset editor puts a problem."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from api.console.completion import keys_at, values_at
from api.console.yaml_lines import line_of
from axiom.pipeline.runtime import Runtime
from tests.unit.api.conftest import ROOT_PASSWORD, Credentials, audit_rows
from tests.unit.api.test_console_session import _sign_in
from tests.unit.api.test_exception_routes import _held, runtime

__all__ = ["runtime"]


def test_study_timeline_and_discard(
    client: TestClient, creds: Credentials, runtime: Runtime, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    _held(runtime, tmp_path, 2)
    rows = client.get("/api/v1/exceptions", headers=creds.user).json()
    study = rows[0]["study_instance_uid"]
    csrf = _sign_in(client, "root", ROOT_PASSWORD)
    page = client.get(f"/studies/{study}")
    assert page.status_code == 200
    assert 'data-kind="received"' in page.text and 'data-kind="exception"' in page.text
    assert "NoMatchingRule" in page.text
    assert client.get("/studies/1.2.3.4").status_code == 404
    listed = client.get("/exceptions?stage=route&older_than_minutes=&newer_than_minutes=60")
    assert listed.status_code == 200 and listed.text.count('name="ids"') == 2
    done = client.post(f"/studies/{study}/actions", data={"action": "discard", "csrf": csrf})
    assert done.status_code == 200 and "discard: 1 discarded" in done.text
    (bulk,) = audit_rows(sessions, "exception.bulk_discard")
    assert bulk.actor == "root" and bulk.details is not None
    assert bulk.details["selection"] == {"filter": {"study_instance_uid": study}}


def test_a_problem_is_placed_at_the_line_of_its_field() -> None:
    text = "name: main\nrules:\n  - name: a\n    destinations: [x]\n  - name: b\n    when:\n      tag: Modality\n"
    assert line_of(text, "rules[1].when.tag") == 7
    assert line_of(text, "rules[0].destinations") == 4
    assert line_of(text, "rules[1].nonexistent") == 5  # the deepest node that exists
    assert line_of(text, "") == 1
    assert line_of("a: [", "a") is None


def test_completion_offers_the_keys_the_schema_allows_at_the_cursor() -> None:
    text = (
        "name: main\nrules:\n  - name: a\n    actions:\n      - set:\n          tag: X\n    when:\n      \n"
    )
    assert "rules" in keys_at(text, 1) and "stop_after_match" in keys_at(text, 1)
    assert {"when", "actions", "destinations"} <= set(keys_at(text, 3))
    assert keys_at(text, 6) == ["tag", "value", "vr"]
    assert {"all", "any", "tag", "equals"} <= set(keys_at(text, 8))  # a condition


def test_completion_offers_the_values_the_schema_lists_for_the_lines_key(
    client: TestClient, creds: Credentials
) -> None:
    destination = "name: d\ntype: \non_duplicate: send\nport: 1\n"
    key, kinds = values_at(destination, 2, "destinations")
    assert key == "type" and {"filesystem", "cstore", "stowrs", "s3", "gcs", "healthcare"} <= set(kinds)
    assert values_at("name: d\ntype: fi\n", 2, "destinations") == ("type", ["filesystem"])
    assert values_at(destination, 3, "destinations") == ("on_duplicate", ["send_if_changed"])
    assert values_at("on_duplicate: \n", 1, "destinations")[1] == ["skip", "send", "send_if_changed"]
    assert values_at(destination, 4, "destinations")[1] == []  # an integer: nothing listed
    ruleset = "name: m\nmode: \nrules:\n  - name: a\n    when:\n      context: \n"
    assert values_at(ruleset, 2) == ("mode", ["all_matches", "first_match"])
    assert "calling_ae" in values_at(ruleset, 6)[1]
    assert values_at(ruleset, 3) == ("rules", [])
    # Through the console: values when the line's key lists some, else the keys allowed there.
    csrf = _sign_in(client, "root", ROOT_PASSWORD)
    head = {"X-CSRF-Token": csrf}
    answer = client.post("/admin/destinations/complete", data={"text": destination, "line": 2}, headers=head)
    assert answer.status_code == 200 and 'data-complete-value="cstore"' in answer.text
    assert "Values of type" in answer.text and "data-complete=" not in answer.text
    keys = client.post("/admin/destinations/complete", data={"text": destination, "line": 4}, headers=head)
    assert 'data-complete="ae_title"' in keys.text and "data-complete-value" not in keys.text
    modes = client.post("/admin/rulesets/m/complete", data={"text": ruleset, "line": 2}, headers=head)
    assert 'data-complete-value="first_match"' in modes.text
    assert (
        client.post("/admin/destinations/complete", data={"text": destination, "line": 2}).status_code == 403
    )
