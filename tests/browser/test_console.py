"""The console in a real headless Chromium against a real ``axiom up``: sign-in, the live dashboard,
a study's timeline, destination tests, the ruleset editor (validation, dry-run, apply, rollback),
bulk retry and role checks. The tests run in file order and share one stack (see conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pydicom.uid import generate_uid
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import OPERATOR_PASSWORD, ROOT_PASSWORD, Console, api_token
from tests.factories import make_dataset, write_instance
from tests.integration.stack import wait_for
from tests.support.dcmtk import StoreSCP, storescu
from tests.support.scp import StorageSCP

pytestmark = pytest.mark.integration


def send(
    console: Console, folder: Path, count: int, study_uid: str, calling_ae: str = "MODALITY"
) -> list[str]:
    series_uid = generate_uid()
    uids = []
    for n in range(count):
        ds = make_dataset(
            study_uid=study_uid,
            series_uid=series_uid,
            instance_number=n + 1,
            series_size=count,
            modality="CT",
        )
        write_instance(ds, folder / f"{n}.dcm")
        uids.append(str(ds.SOPInstanceUID))
    sent = storescu([folder], "127.0.0.1", console.stack.dicom_port, "AXIOM", calling_ae)
    assert sent.returncode == 0, sent.stderr
    return uids


def test_sign_in_refuses_a_wrong_password_then_signs_in(console: Console) -> None:
    console.get("/")
    assert "/login" in console.driver.current_url  # the dashboard needs a session
    console.find("#username").send_keys("root")
    console.find("#password").send_keys("not-the-password")
    console.click("form[action='/login'] button[type=submit]")
    console.text_in("#login-error", "Wrong username or password")
    console.shot("login-error")
    console.sign_in("root", ROOT_PASSWORD)
    cookie = console.driver.get_cookie("axiom_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert console.driver.find_element(By.ID, "whoami").text == "root (superuser)"
    # Keyboard first: the first Tab reaches "Skip to content"; the theme switches and is remembered.
    console.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert console.driver.switch_to.active_element.text == "Skip to content"
    theme = "return document.documentElement.dataset.theme"
    before = console.driver.execute_script(theme)
    console.click("#theme-toggle")
    after = console.driver.execute_script(theme)
    assert after in ("dark", "light") and after != before
    console.driver.refresh()
    assert console.driver.execute_script(theme) == after
    console.click("#theme-toggle")
    # `axiom up` said where the console is.
    printed = " ".join((console.stack.logs / "up.log").read_text().split())
    assert f"Web console http://127.0.0.1:{console.stack.api_port}/" in printed


def test_dashboard_shows_a_storescu_instance_without_reload(console: Console, tmp_path: Path) -> None:
    console.get("/")
    console.text_in("#live-state", "connected")
    console.driver.execute_script("window.__sameDocument = 'yes'")
    study_uid = generate_uid()
    (uid,) = send(console, tmp_path, 1, study_uid)
    console.text_in("#recent-instances", uid)
    console.text_in("#event-feed", uid)
    # The same document: the page was updated in place, never reloaded.
    assert console.driver.execute_script("return window.__sameDocument") == "yes"
    console.text_in("#destination-health", "pacs")
    console.shot("dashboard")
    console.study_uid = study_uid  # type: ignore[attr-defined]
    console.first_uid = uid  # type: ignore[attr-defined]


def test_study_search_and_timeline(console: Console) -> None:
    study_uid: str = console.study_uid  # type: ignore[attr-defined]
    headers = api_token(console, "root", ROOT_PASSWORD)
    failed = f"{console.url}/api/v1/exceptions?destination=pacs"
    wait_for(
        lambda: any(
            r["study_instance_uid"] == study_uid
            for r in requests.get(failed, headers=headers, timeout=10).json()
        ),
        30,
        "the failed delivery to the PACS (nothing listens there yet)",
    )
    console.get("/studies")
    console.find("#f-acc").send_keys("ACC0000001")  # the factory's accession number
    console.find("#f-uid").send_keys(study_uid, Keys.ENTER)
    console.wait(lambda d: "accession=ACC0000001" in d.current_url)  # htmx swapped the results in
    console.text_in("#results", "1 found")
    assert console.find("#study-results td.accession").text == "ACC0000001"
    console.click(f"#study-results a[href='/studies/{study_uid}']")
    console.text_in("h1", study_uid)
    # Delivered to the archive, failed to the PACS (nothing listens yet): both on the timeline.
    console.wait(
        lambda d: (
            {"received", "routed", "delivery", "exception"}
            <= {
                row.get_attribute("data-kind")
                for row in d.find_elements(By.CSS_SELECTOR, "#timeline tbody tr")
            }
        )
    )
    timeline = console.find("#timeline").text
    assert "from MODALITY" in timeline
    assert "rules matched: main/everything" in timeline
    assert "to archive" in timeline and "pacs" in timeline
    # What the rules did to the instance: its tag diff, rebuilt from the stored header.
    console.click("#inst-title")
    console.click(".changes-button")
    console.text_in("#instance-changes", "AXIOM-ROUTED")
    changes = console.find("#instance-changes").text
    assert "main/everything" in changes and "InstitutionName" in changes
    assert "Example General Hospital" in changes  # the received value: shown to a superuser
    console.shot("study")


def test_destination_test_answers_success_then_connection_error(console: Console, tmp_path: Path) -> None:
    with StoreSCP(tmp_path / "scp", ae_title="ECHOSCP") as scp:
        for name, port in (("echo-ok", scp.port), ("echo-closed", console.pacs_port + 0)):
            console.get("/admin/destinations")
            console.click("#new-destination")
            text = console.find("#yaml-text")
            text.clear()
            # Completion of values: on the `type:` line the editor offers the kinds of the schema.
            text.send_keys(f"name: {name}\ntype: c")
            console.text_in("#completion", "Values of type")
            console.click("#completion button[data-complete-value='cstore']")
            assert text.get_attribute("value") == f"name: {name}\ntype: cstore"
            text.send_keys(f"\nhost: 127.0.0.1\nport: {port}\nae_title: ECHOSCP\n")
            console.click("#save")
            console.text_in("#message", f"destination {name}: created")
        console.click("#dest-echo-ok .test-button")
        console.text_in("#test-echo-ok", "Success")
        assert "C-ECHO to ECHOSCP@127.0.0.1" in console.find("#test-echo-ok").text
        console.click("#dest-echo-closed .test-button")
        console.text_in("#test-echo-closed", "Failed")
        assert "no association" in console.find("#test-echo-closed").text
        console.shot("destinations")


def _editor_text(console: Console, text: str) -> None:
    area = console.find("#ruleset-text")
    console.driver.execute_script("arguments[0].value = arguments[1]", area, text)
    area.send_keys(" ")  # a real keystroke, so the as-you-type validation runs


RULESET = """name: main
rules:
  - name: everything
    actions:
      - set:
          tag: InstitutionName
          value: AXIOM-ROUTED
    destinations:
      - archive
      - pacs
"""


def test_ruleset_typo_is_reported_at_its_line(console: Console) -> None:
    console.get("/admin/rulesets/main")
    _editor_text(console, RULESET.replace("    destinations:", "    destinatons:"))
    console.text_in("#problems", "Line 8")
    problem = console.find("#problems .problem")
    assert problem.get_attribute("data-line") == "8"
    assert "destinatons" in problem.text
    console.shot("ruleset-typo")
    _editor_text(console, RULESET)
    console.text_in("#problems", "Valid.")
    # Completion: with the cursor on the rule's first line, the keys of a rule are offered.
    console.driver.execute_script(
        "const a = arguments[0]; const at = a.value.indexOf('  - name: everything');"
        "a.setSelectionRange(at, at); a.dispatchEvent(new KeyboardEvent('keyup', {bubbles: true}));",
        console.find("#ruleset-text"),
    )
    console.text_in("#completion", "Keys allowed at line 3")
    offered = {b.text for b in console.driver.find_elements(By.CSS_SELECTOR, "#completion button.key")}
    assert {"when", "actions", "destinations"} <= offered


def test_dry_run_of_a_file(console: Console, tmp_path: Path) -> None:
    path = write_instance(make_dataset(modality="MR"), tmp_path / "probe.dcm")
    console.get("/admin/rulesets/main")
    console.find("#dry-file").send_keys(str(path))
    console.click("#dry-run")
    console.text_in("#disposition", "route")
    report = console.find("#dry-run-report").text
    assert "main/everything" in report and "InstitutionName" in report and "AXIOM-ROUTED" in report
    assert "archive" in console.find("#dry-run-destinations").text
    console.shot("dry-run")
    # The editor's text, not applied yet, against the same file.
    _editor_text(console, RULESET.replace("AXIOM-ROUTED", "AXIOM-DRAFT"))
    console.click("#dry-use-editor")
    console.click("#dry-run")
    console.text_in("#dry-run-report", "AXIOM-DRAFT")
    # A recently received instance (the dashboard test's, from its stored header) instead of the file.
    Select(console.find("#dry-instance")).select_by_index(1)
    console.driver.execute_script("document.getElementById('dry-run-report').remove()")
    console.click("#dry-run")
    console.text_in("#dry-run-report", "AXIOM-DRAFT")
    first_uid: str = console.first_uid  # type: ignore[attr-defined]
    assert first_uid in console.find("#dry-run-result").text


def test_apply_then_roll_back(console: Console) -> None:
    console.get("/admin/rulesets/main")
    before = len(console.driver.find_elements(By.CSS_SELECTOR, "#versions tbody tr"))
    changed = RULESET.replace("AXIOM-ROUTED", "AXIOM-CONSOLE")
    _editor_text(console, changed)
    console.click("#show-diff")
    console.text_in("#diff", "AXIOM-CONSOLE")
    changed_lines = [
        line[0] + line[1:].strip()
        for line in console.find("#diff-text").text.splitlines()
        if line[:1] in "+-" and line[:3] not in ("+++", "---")
    ]
    assert changed_lines == ["-value: AXIOM-ROUTED", "+value: AXIOM-CONSOLE"], (
        changed_lines
    )  # only the change
    # Replay: the edit changes a tag value, not where anything goes.
    console.click("#replay")
    console.text_in("#replay-report", "0 differently")
    assert "instance(s) replayed" in console.find("#replay-report").text
    console.click("#apply")
    console.text_in("#apply-message", "ruleset main: updated")
    headers = api_token(console, "root", ROOT_PASSWORD)
    api = f"{console.url}/api/v1/config/rulesets/main"
    assert "AXIOM-CONSOLE" in requests.get(api, headers=headers, timeout=10).text
    rows = console.driver.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
    assert len(rows) == before + 1
    console.shot("ruleset-applied")
    # Roll back to the version before: a new version with the old content.
    previous = rows[1].get_attribute("data-version")
    console.click(f"#versions tr[data-version='{previous}'] button.rollback")
    console.text_in("#apply-message", f"rolled back to version {previous}")
    assert "AXIOM-ROUTED" in requests.get(api, headers=headers, timeout=10).text
    assert "AXIOM-ROUTED" in console.find("#ruleset-text").get_attribute("value")


def test_crosswalk_entries_listed_and_searched(console: Console) -> None:
    rows = "".join(f"MRN{n:03d},PSEUDO-{n}\n" for n in range(60))
    (console.stack.data_dir / "mrn.csv").write_text("mrn,pseudo\n" + rows)
    answer = requests.put(
        f"{console.url}/api/v1/config/crosswalks/mrn",
        json={"source": {"csv": "mrn.csv", "key_column": "mrn", "value_column": "pseudo"}},
        headers=api_token(console, "root", ROOT_PASSWORD),
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    console.get("/admin/crosswalks")
    console.click("#crosswalk-mrn button")
    console.text_in("#sync-result", "mrn: 60 rows")
    console.click("#crosswalk-mrn a.entries-link")
    console.text_in(".pager", "60 found · page 1 of 2")
    assert console.find("#crosswalk-entries tbody tr td.value").text == "PSEUDO-0"
    console.find("#e-prefix").send_keys("MRN05")
    console.click("#entry-search button[type=submit]")
    console.text_in(".pager", "10 found · page 1 of 1")
    keys = [td.text for td in console.driver.find_elements(By.CSS_SELECTOR, "#crosswalk-entries td.key")]
    assert keys == [f"MRN{n:03d}" for n in range(50, 60)]
    console.shot("crosswalk-entries")


def test_bulk_retry_delivers_after_the_pacs_is_back(console: Console, tmp_path: Path) -> None:
    headers = api_token(console, "root", ROOT_PASSWORD)
    uids = send(console, tmp_path, 20, generate_uid(), calling_ae="BULK")

    def open_rows() -> int:
        answer = requests.get(
            f"{console.url}/api/v1/exceptions",
            params={"destination": "pacs", "status": "open", "limit": "1000"},
            headers=headers,
            timeout=10,
        )
        return sum(1 for row in answer.json() if row["sop_instance_uid"] in uids)

    wait_for(lambda: open_rows() == 20, 60, "20 failed deliveries to the PACS")
    scp = StorageSCP(ae_title="TESTSCP")
    scp.port = console.pacs_port
    with scp:
        console.get("/exceptions")
        Select(console.find("#x-dest")).select_by_visible_text("pacs")
        Select(console.find("#x-status")).select_by_visible_text("open")
        console.click("#exception-filters button[type=submit]")
        console.wait(lambda d: "destination=pacs" in d.current_url)
        console.click("#scope-matching")
        console.shot("exceptions")
        console.click("#bulk-retry")
        console.text_in("#bulk-result", "delivered", timeout=60)
        assert scp.wait_for(lambda log: set(uids) <= {r.sop_instance_uid for r in log.received}, 10)
    assert open_rows() == 0
    audit = requests.get(f"{console.url}/admin/audit", timeout=10)  # no session: to the sign-in page
    assert "Sign in" in audit.text
    console.get("/admin/audit?action=exception.bulk_retry")
    console.text_in("#audit", "exception.bulk_retry")
    console.shot("audit")


def test_a_user_sees_no_admin_pages(console: Console) -> None:
    headers = api_token(console, "root", ROOT_PASSWORD)
    made = requests.post(
        f"{console.url}/api/v1/auth/users",
        json={"username": "operator", "password": OPERATOR_PASSWORD, "role": "user"},
        headers=headers,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    console.sign_in("operator", OPERATOR_PASSWORD)
    nav = console.find("nav").text
    assert "Exceptions" in nav and "Destinations" not in nav and "Rulesets" not in nav
    console.get("/exceptions")
    assert not console.driver.find_elements(By.ID, "bulk-retry")
    admin_pages = (
        "/admin/destinations",
        "/admin/rulesets/main",
        "/admin/crosswalks/mrn/entries",
        "/admin/users",
    )
    for path in (*admin_pages, "/admin/api-keys"):
        console.get(path)
        console.text_in("h1", "403")
    console.shot("user-forbidden")
    # Accession numbers and received values are masked for a user, and not searchable.
    study_uid: str = console.study_uid  # type: ignore[attr-defined]
    console.get(f"/studies?study_instance_uid={study_uid}")
    assert not console.driver.find_elements(By.ID, "f-acc")
    assert console.find("#study-results td.accession").text == "masked"
    console.click(f"#study-results a[href='/studies/{study_uid}']")
    console.click("#inst-title")
    console.click(".changes-button")
    console.text_in("#instance-changes", "AXIOM-ROUTED")
    assert "<masked>" in console.find("#instance-changes").text
    assert "Example General Hospital" not in console.find("#instance-changes").text
    console.get("/studies?accession=ACC0000001")
    console.text_in("h1", "403")
    # Through the API a user gets crosswalk entries masked, and may not search them by key.
    operator = api_token(console, "operator", OPERATOR_PASSWORD)
    entries = f"{console.url}/api/v1/config/crosswalks/mrn/entries"
    masked = requests.get(entries, headers=operator, timeout=10).json()
    assert masked["total"] == 60 and {i["key"] for i in masked["items"]} == {"<masked>"}
    assert requests.get(entries, params={"prefix": "MRN"}, headers=operator, timeout=10).status_code == 403
    # A forged form post is refused by the role check (and would be by the CSRF check).
    status = console.driver.execute_async_script(
        "const done = arguments[0];"
        "fetch('/exceptions/bulk', {method: 'POST', body: new URLSearchParams({action: 'retry', scope: 'matching'})})"
        ".then(r => done(r.status));"
    )
    assert status == 403
