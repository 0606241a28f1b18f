"""``axiom rules history|diff|rollback`` and ``axiom crosswalks sync|list`` through the real CLI, on
the embedded set-up (SQLite under a temporary data dir)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.stack import AxiomStack

pytestmark = pytest.mark.integration

DESTINATIONS = [
    {"name": "pacs", "type": "cstore", "host": "127.0.0.1", "port": 4242, "ae_title": "ORTHANC"},
    {"name": "archive", "type": "filesystem"},
]
V1 = {
    "name": "clinical",
    "rules": [{"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["pacs"]}],
}
V2 = {
    "name": "clinical",
    "priority": 5,
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["archive"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AxiomStack]:
    stack = AxiomStack(tmp_path / "data", {})
    yield stack
    stack.stop_all()


def _apply(stack: AxiomStack, **config: Any) -> str:
    path = stack.data_dir / "config.yaml"
    path.write_text(yaml.safe_dump({"destinations": DESTINATIONS, **config}))
    result = stack.axiom("apply", "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _rulesets(stack: AxiomStack) -> list[dict[str, Any]]:
    rulesets: list[dict[str, Any]] = json.loads(stack.axiom("get", "rules", "-o", "json").stdout)["rulesets"]
    return rulesets


def test_history_diff_and_rollback(stack: AxiomStack) -> None:
    _apply(stack, rulesets=[V1])
    original = _rulesets(stack)
    _apply(stack, rulesets=[V2])
    assert "0 updated, 1 unchanged" in _apply(stack, rulesets=[V2])  # stores no version
    changed = _rulesets(stack)
    assert changed != original

    history = stack.axiom("rules", "history", "clinical").stdout.splitlines()
    hashes = [row[0] for row in stack.query("SELECT content_hash FROM ruleset_versions ORDER BY version")]
    assert len(history) == 3 and history[0].split()[:2] == ["VERSION", "WHEN"]
    assert [line.split()[0] for line in history[1:]] == ["1", "2"]
    assert [line.split()[3:] for line in history[1:]] == [
        ["cli", "created", hashes[0][:12]],
        ["cli", "updated", hashes[1][:12]],
    ]

    diff = stack.axiom("rules", "diff", "clinical", "1", "2").stdout.splitlines()
    assert diff[:2] == ["--- clinical@1", "+++ clinical@2"]
    assert "-priority: 100" in diff and "+priority: 5" in diff and "+- name: mr" in diff

    (config_version,) = stack.query("SELECT version FROM config_state")[0]
    rolled = stack.axiom("rules", "rollback", "clinical", "--to", "1")
    assert (
        rolled.stdout.strip()
        == f"clinical: restored version 1 as version 3; config version {config_version + 1}"
    )

    assert _rulesets(stack) == original
    assert stack.query("SELECT version FROM config_state")[0][0] == config_version + 1
    last = stack.axiom("rules", "history", "clinical").stdout.splitlines()[-1].split()
    assert last[0] == "3" and last[3:6] == ["cli", "rollback", "1"] and last[6] == hashes[0][:12]
    audit = stack.query("SELECT actor, action, target FROM audit_logs WHERE action = 'ruleset.rolled_back'")
    assert [tuple(row) for row in audit] == [("cli", "ruleset.rolled_back", "clinical")]

    # The rollback itself can be undone.
    stack.axiom("rules", "rollback", "clinical", "--to", "2")
    assert _rulesets(stack) == changed
    again = stack.axiom("rules", "rollback", "clinical", "--to", "2")
    assert "nothing changed" in again.stdout


def test_errors_exit_2_with_a_reason(stack: AxiomStack) -> None:
    _apply(stack, rulesets=[V1])
    missing = stack.axiom("rules", "rollback", "clinical", "--to", "9", check=False)
    assert missing.returncode == 2 and "ruleset 'clinical' has no version 9" in missing.stderr
    unknown = stack.axiom("rules", "history", "nothing", check=False)
    assert unknown.returncode == 2 and "has no versions" in unknown.stderr
    bad_diff = stack.axiom("rules", "diff", "clinical", "1", "5", check=False)
    assert bad_diff.returncode == 2 and "no version 5" in bad_diff.stderr


def test_crosswalks_sync_on_demand(stack: AxiomStack, tmp_path: Path) -> None:
    csv_path = tmp_path / "sites.csv"
    csv_path.write_text("code,institution\nA1,North\nB2,South\n", encoding="utf-8")
    source = {"csv": str(csv_path), "key_column": "code", "value_column": "institution"}
    broken = {"csv": str(tmp_path / "gone.csv"), "key_column": "code", "value_column": "institution"}
    out = _apply(stack, crosswalks=[{"name": "sites", "source": source}, {"name": "old", "source": broken}])
    assert "crosswalks: 2 created" in out

    ok = stack.axiom("crosswalks", "sync", "sites")
    assert ok.stdout.strip() == "sites: 2 entries, updated (generation 1)"
    assert sorted(tuple(r) for r in stack.query("SELECT key, value FROM crosswalk_entries")) == [
        ("A1", "North"),
        ("B2", "South"),
    ]

    everything = stack.axiom("crosswalks", "sync", check=False)
    assert everything.returncode == 1
    assert "sites: 2 entries, unchanged (generation 1)" in everything.stdout
    assert "old: failed, entries kept (0):" in everything.stderr and "file not found" in everything.stderr

    listed = stack.axiom("crosswalks", "list").stdout
    assert "file not found" in listed and "sites" in listed
    unknown = stack.axiom("crosswalks", "sync", "nope", check=False)
    assert unknown.returncode == 2 and "no crosswalk named 'nope'" in unknown.stderr
