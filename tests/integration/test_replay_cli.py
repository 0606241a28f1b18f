"""``axiom rules replay`` through the real CLI on the embedded set-up (SQLite under a temporary data
dir), after instances were routed through route_instance with header retention on (the default)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom.filereader import read_file_meta_info

from axiom.config import Settings
from axiom.dicom.spool import Spool
from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import make_dataset, write_instance
from tests.integration.stack import AxiomStack

pytestmark = pytest.mark.integration

DESTINATIONS = [{"name": n, "type": "filesystem"} for n in ("archive", "elsewhere")]
LIVE: dict[str, Any] = {
    "name": "clinical",
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["archive"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}
CT_ELSEWHERE: dict[str, Any] = {
    "name": "clinical",
    "rules": [
        {"name": "ct", "when": {"tag": "Modality", "equals": "CT"}, "destinations": ["elsewhere"]},
        {"name": "mr", "when": {"tag": "Modality", "equals": "MR"}, "destinations": ["archive"]},
    ],
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[AxiomStack]:
    stack = AxiomStack(tmp_path / "data", {})
    # Version 1: CT elsewhere (the candidate); version 2: what is live while instances arrive.
    stack.apply({"destinations": DESTINATIONS, "rulesets": [CT_ELSEWHERE]})
    stack.apply({"destinations": DESTINATIONS, "rulesets": [LIVE]})
    yield stack
    stack.stop_all()


def _route_all(stack: AxiomStack, tmp_path: Path, received: list[tuple[str, timedelta]]) -> dict[str, str]:
    """Route datasets through route_instance against the stack's database; uid -> modality."""
    runtime = Runtime(Settings(data_dir=stack.data_dir, spool_fsync=False))
    spool = Spool(runtime.settings.spool_dir, runtime.settings.quarantine_dir, fsync=False)
    now = datetime.now(UTC)
    routed = {}
    try:
        for modality, ago in received:
            ds = make_dataset(modality=modality)
            source = write_instance(ds, tmp_path / f"{ds.SOPInstanceUID}.dcm")
            meta = read_file_meta_info(source)
            path = spool.write(
                meta, source.read_bytes()[132 + 12 + int(meta.FileMetaInformationGroupLength) :]
            )
            message = dataclasses.replace(message_for_spooled_file(path), received_at=(now - ago).isoformat())
            outcome = route_instance(runtime, message)
            assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
            routed[str(ds.SOPInstanceUID)] = modality
    finally:
        runtime.close()
    return routed


def test_replay_reports_how_a_candidate_would_route(stack: AxiomStack, tmp_path: Path) -> None:
    routed = _route_all(
        stack,
        tmp_path,
        [
            ("CT", timedelta(days=3)),
            ("CT", timedelta(hours=30)),
            ("MR", timedelta(hours=5)),
            ("CT", timedelta(minutes=10)),
        ],
    )
    cts = [uid for uid, modality in routed.items() if modality == "CT"]

    unchanged = stack.axiom("rules", "replay", "--since", "2d", "--ruleset", "clinical@2")
    assert unchanged.stdout.splitlines()[1] == "same: 3  different: 0"
    assert "instances received" in unchanged.stdout.splitlines()[0]

    result = stack.axiom("rules", "replay", "--since", "2d", "--ruleset", "clinical@1", "-o", "json")
    report = json.loads(result.stdout)
    assert (report["total"], report["same"], report["different"]) == (3, 1, 2)
    assert [d["sop_instance_uid"] for d in report["differences"]] == cts[1:]
    assert {
        (tuple(d["actual_destinations"]), tuple(d["candidate_destinations"])) for d in report["differences"]
    } == {(("archive",), ("elsewhere",))}

    # The last hour only, from a candidate file; the text table names the instance and both routes.
    candidate = tmp_path / "candidate.yaml"
    candidate.write_text(yaml.safe_dump({"rulesets": [CT_ELSEWHERE]}))
    text = stack.axiom(
        "rules", "replay", "--since", "1h", "--ruleset", "clinical", "--candidate", str(candidate)
    )
    lines = text.stdout.splitlines()
    assert lines[1] == "same: 0  different: 1"
    (row,) = [line for line in lines if cts[-1] in line]
    assert "archive" in row and "elsewhere" in row

    # An ISO date before everything: all four instances.
    since = (datetime.now(UTC) - timedelta(days=4)).date().isoformat()
    everything = json.loads(
        stack.axiom("rules", "replay", "--since", since, "--ruleset", "clinical@1", "-o", "json").stdout
    )
    assert (everything["total"], everything["different"]) == (4, 3)


def test_replay_refuses_bad_input_with_exit_2(stack: AxiomStack, tmp_path: Path) -> None:
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text(
        yaml.safe_dump({"rulesets": [{**LIVE, "rules": [{"name": "x", "destinations": ["nowhere"]}]}]})
    )
    cases = [
        (["--since", "yesterday", "--ruleset", "clinical@1"], "expected a duration like 30m"),
        (["--since", "2d", "--ruleset", "clinical@7"], "ruleset 'clinical' has no version 7"),
        (["--since", "2d", "--ruleset", "clinical"], "expected NAME@VERSION"),
        (
            ["--since", "2d", "--ruleset", "clinical", "--candidate", str(bad_file)],
            "'nowhere' is defined neither",
        ),
        (["--since", "2d", "--ruleset", "clinical@1", "-o", "xml"], "--output must be text or json"),
    ]
    for args, message in cases:
        result = stack.axiom("rules", "replay", *args, check=False)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and result.stdout == ""
