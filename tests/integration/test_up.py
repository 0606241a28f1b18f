"""``axiom up`` from nothing: the newcomer's first send lands somewhere visible, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from pydicom import dcmread

from tests.factories import Corpus
from tests.integration.stack import AxiomStack, port_open, wait_for
from tests.support.dcmtk import storescu

pytestmark = pytest.mark.integration


def test_first_start_applies_the_example_and_ctrl_c_stops_every_role(
    tmp_path: Path, corpus_small: Corpus
) -> None:
    # The default worker concurrency: on SQLite, one data-path worker (the one writer) and one for the rest.
    stack = AxiomStack(
        tmp_path / "fresh", {"AXIOM_APPLY_EXAMPLE_ON_FIRST_START": "true", "AXIOM_WORKER_CONCURRENCY": "0"}
    )
    try:
        stack.start("up")
        children = subprocess.run(
            ["pgrep", "-a", "-P", str(stack.procs["up"].pid)], capture_output=True, text=True
        ).stdout
        workers = sorted(
            line.split("cli.main ", 1)[1] for line in children.splitlines() if "main worker" in line
        )
        assert workers == [
            f"worker --queues high,default --autoscale {os.cpu_count() or 1},1",
            "worker --queues low,retry --concurrency 1",
        ], children
        assert requests.get(f"http://127.0.0.1:{stack.api_port}/health", timeout=5).json() == {"status": "ok"}
        info = corpus_small.instances[0]

        storescu([info.path], "127.0.0.1", stack.dicom_port, "AXIOM")

        archive = stack.data_dir / "destinations" / "local-archive"
        landed = wait_for(lambda: list(archive.rglob("*.dcm")), 60, "the first send in local-archive")
        assert [str(dcmread(p).SOPInstanceUID) for p in landed] == [info.sop_instance_uid]
        terminal = stack.logs / "up.log"  # what `axiom up` printed
        study = f"study {info.study_instance_uid}"
        wait_for(
            lambda: f"delivered  {study} to local-archive: 1 instance" in terminal.read_text(), 30, "the line"
        )
        printed = terminal.read_text()
        assert "applied default.yaml" in printed
        assert f"received   {study}: 1 instance from STORESCU" in printed
        # The chatter went to the log file, not to the terminal.
        log_file = stack.data_dir / "logs" / "axiom.log"
        chatter = ("succeeded in", "No hostname was supplied", "Warning", "celery@", "Task axiom.")
        assert not [word for word in chatter if word in printed], printed
        assert "succeeded in" in log_file.read_text()  # Celery's per-task lines
        listed = stack.axiom("get", "destinations").stdout
        assert "local-archive" in listed

        # Ctrl-C reaches the whole foreground process group.
        proc = stack.procs.pop("up")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(40) == 0
        assert not port_open(stack.dicom_port)
        assert not port_open(stack.api_port)
        leftover = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout
        assert leftover.strip() == ""
    finally:
        stack.stop_all()


def test_apply_reports_file_field_and_reason_and_changes_nothing(tmp_path: Path) -> None:
    stack = AxiomStack(tmp_path / "cfg", {})
    good = tmp_path / "good.yaml"
    good.write_text(
        "destinations:\n  - {name: archive, type: filesystem}\n"
        "rulesets:\n  - name: main\n    rules:\n      - {name: all, destinations: [archive]}\n"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "destinations:\n  - {name: other, type: filesystem}\n"
        "rulesets:\n  - name: main\n    rules:\n      - name: ct\n        when: {tag: Modality, regex: '([unclosed'}\n"
        "        destinations: [other]\n"
    )

    assert stack.axiom("apply", "-f", str(good)).returncode == 0
    before = stack.axiom("get", "rules", "-o", "json").stdout
    result = stack.axiom("apply", "-f", str(bad), check=False)

    assert result.returncode == 2
    assert "bad.yaml" in result.stderr
    assert "rulesets[0].rules[0].when" in result.stderr
    assert "regular expression" in result.stderr
    assert stack.axiom("get", "rules", "-o", "json").stdout == before
    assert "other" not in stack.axiom("get", "destinations").stdout
    again = stack.axiom("apply", "-f", str(good))
    assert "unchanged" in again.stdout
