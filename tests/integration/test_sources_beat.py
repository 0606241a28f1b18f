"""End to end: the real ``axiom beat`` (database scheduler) and ``axiom worker`` poll a DICOMweb source
on a real Orthanc, with the schedule shortened by settings: a source added with ``axiom apply`` is
polled without a restart, every instance arrives once at a filesystem destination through the rules,
a grown study is pulled for its new instances only, and an outage is recorded, then caught up."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.stack import AxiomStack, running_stack, wait_for
from tests.integration.test_sources import _load_study, _require_orthanc
from tests.support.orthanc import Orthanc

pytestmark = pytest.mark.integration

FAST = {
    "AXIOM_BEAT_RELOAD_SECONDS": "0.5",
    "AXIOM_SOURCE_BACKOFF_BASE_SECONDS": "1",
    "AXIOM_SOURCE_BACKOFF_MAX_SECONDS": "2",
    "AXIOM_SPOOL_FSYNC": "false",
}


@pytest.fixture(params=["embedded", "distributed"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AxiomStack]:
    with running_stack(request.param, tmp_path / "axiom", FAST) as s:
        yield s


def _archived(archive: Path) -> set[str]:
    return {path.stem for path in archive.rglob("*.dcm")}


def _received(stack: AxiomStack) -> dict[str, tuple[str, int]]:
    rows = stack.query("SELECT sop_instance_uid, source, received_count FROM dicom_instances")
    return {uid: (source, count) for uid, source, count in rows}


def _state(stack: AxiomStack) -> Any:
    rows = stack.query("SELECT last_status, last_error, consecutive_failures FROM source_states")
    return rows[0] if rows else None


def test_beat_polls_a_source_added_at_run_time(stack: AxiomStack, tmp_path: Path) -> None:
    _require_orthanc(dicomweb=True)
    archive = tmp_path / "archive"
    with Orthanc(tmp_path / "orthanc") as pacs:
        first = _load_study(pacs, 3)
        second = _load_study(pacs, 2)
        stack.apply(
            {
                "destinations": [{"name": "archive", "type": "filesystem", "root": str(archive)}],
                "rulesets": [
                    {
                        "name": "pulled",
                        "rules": [
                            {
                                "name": "from-pacs",
                                "when": {"context": "source", "equals": "web-pacs"},
                                "destinations": ["archive"],
                            }
                        ],
                    }
                ],
            }
        )
        stack.start("worker", "beat")
        # Added while Beat runs: its schedule follows the database.
        stack.apply(
            {
                "sources": [
                    {
                        "name": "web-pacs",
                        "type": "dicomweb",
                        "url": pacs.dicomweb_url,
                        "schedule": {"every_seconds": 1},
                    }
                ]
            }
        )
        expected = set(first + second)
        try:
            wait_for(lambda: _archived(archive) == expected, 90, "the first pull")
            added = _load_study(pacs, 2, study_uid=pacs.instance_tags(first[0])["StudyInstanceUID"])
            expected |= set(added)
            wait_for(lambda: _archived(archive) == expected, 60, "the new instances of the grown study")

            pacs.stop()
            wait_for(lambda: (_state(stack) or [None])[0] == "failed", 60, "a failed poll")
            _status, error, failures = _state(stack)
            assert error and "QIDO-RS" in error and failures >= 1

            pacs.start()
            late = _load_study(pacs, 1)
            expected |= set(late)
            wait_for(lambda: _archived(archive) == expected, 60, "the catch-up after the outage")
            wait_for(lambda: (_state(stack) or [None])[0] == "ok", 30, "a successful poll")
        except AssertionError:
            print(stack.log_tail(80))
            raise

        # The worker writes an instance's row in one commit after delivering it, so the last file
        # can be in the archive a moment before its row.
        wait_for(lambda: set(_received(stack)) == expected, 30, "the instance rows")
        received = _received(stack)
        # Each instance was ingested exactly once, tagged with the source's name.
        assert {value for value in received.values()} == {("web-pacs", 1)}
