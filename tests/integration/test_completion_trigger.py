"""Study-complete rules end to end: DCMTK storescu sends a mixed corpus to a running Axiom (embedded
and distributed); Beat finds each study complete after the quiet period and a worker sends it once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from tests.factories import Corpus, StudySpec, write_corpus
from tests.integration.stack import AxiomStack, running_stack, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration

QUIET = 3.0


def _config(root: Path) -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "per-instance", "type": "filesystem", "root": str(root / "per-instance")},
            {
                "name": "whole-studies",
                "type": "filesystem",
                "root": str(root / "whole-studies"),
                "path_template": "{StudyInstanceUID}/{SOPInstanceUID}.dcm",
            },
        ],
        "rulesets": [
            {
                "name": "main",
                "rules": [
                    {"name": "each", "destinations": ["per-instance"]},
                    {
                        "name": "study-done",
                        "trigger": {"level": "study", "quiet_seconds": QUIET},
                        "actions": [{"set": {"tag": "StationName", "value": "WHOLE"}}],
                        "destinations": ["whole-studies"],
                    },
                ],
            }
        ],
    }


@pytest.fixture(params=["embedded", "distributed"])
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AxiomStack]:
    env = {"AXIOM_COMPLETION_CHECK_SECONDS": "0.5"}
    with running_stack(request.param, tmp_path / "axiom", env) as s:
        s.up_roles = ("up",) if request.param == "embedded" else ("listen", "worker", "beat")  # type: ignore[attr-defined]
        yield s


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    studies = (StudySpec("CT", (4, 3)), StudySpec("MR", (3,)), StudySpec("US", (2, 2)))
    corpus = write_corpus(tmp_path_factory.mktemp("trigger-corpus"), studies=studies, large_every=4)
    # No announced counts: completeness comes from the quiet period alone.
    for info in corpus:
        ds = dcmread(info.path)
        del ds.NumberOfStudyRelatedInstances
        del ds.NumberOfSeriesRelatedInstances
        ds.save_as(info.path, enforce_file_format=True)
    return corpus


def _when(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def test_study_complete_rule_sends_each_study_once_after_the_quiet_period(
    stack: AxiomStack, corpus: Corpus
) -> None:
    root = stack.data_dir / "out"
    stack.apply(_config(root))
    stack.start(*stack.up_roles)  # type: ignore[attr-defined]

    storescu(corpus.paths, "127.0.0.1", stack.dicom_port, "AXIOM")

    whole = root / "whole-studies"
    try:
        wait_for(
            lambda: (
                stack.query("SELECT count(*) FROM completion_groups WHERE status = 'fired'")[0][0]
                == len(corpus.study_instance_uids)
            ),
            90,
            "every study sent",
        )
    except AssertionError:
        print(stack.log_tail())
        raise
    assert len(list((root / "per-instance").rglob("*.dcm"))) == len(corpus)
    files = sorted(whole.rglob("*.dcm"))
    assert len(files) == len(corpus)
    by_uid = {info.sop_instance_uid: info for info in corpus}
    for path in files:
        ds = dcmread(path)
        assert path.parent.name == by_uid[str(ds.SOPInstanceUID)].study_instance_uid
        assert ds.StationName == "WHOLE"

    groups = stack.query(
        "SELECT group_uid, level, fire_count, received_count, last_arrival_at, fired_at FROM completion_groups"
    )
    assert {g[0] for g in groups} == corpus.study_instance_uids
    for uid, level, fire_count, received, last_arrival, fired_at in groups:
        assert (level, fire_count) == ("study", 1)
        assert received == sum(1 for info in corpus if info.study_instance_uid == uid)
        assert (_when(fired_at) - _when(last_arrival)).total_seconds() >= QUIET

    # Exactly once: later checks send nothing again.
    written = {p: p.stat().st_mtime_ns for p in files}
    time.sleep(2.0)
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*.dcm")} == written
    assert [r[0] for r in stack.query("SELECT fire_count FROM completion_groups")] == [1] * len(groups)
    assert stack.query("SELECT DISTINCT status FROM dicom_instances")[0][0] == "delivered"
    assert stack.query("SELECT count(*) FROM exception_logs")[0][0] == 0
    assert list((stack.data_dir / "held").glob("*.dcm")) == []
    assert list((stack.data_dir / "spool").glob("*.dcm")) == []
