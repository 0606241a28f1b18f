"""AI in the route over real sockets: storescu sends a CT study to a running Axiom, the ONNX model runs
on the gpu worker, and a rule routes by its result. Embedded: `axiom up`, which starts a gpu worker
because a model is installed; distributed: PostgreSQL + RabbitMQ, listener, worker and
`axiom worker --queues gpu` as separate processes.

The model is the tiny brightness classifier (tests/support/onnx_models.py): the instances shifted
bright by their Rescale Intercept read "pneumonia" and must land in the urgent folder (with the
result in a private block); every instance lands in the archive.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid

from rules.engine import INFERENCE_CREATOR, INFERENCE_GROUP
from tests.factories import make_dataset, write_instance
from tests.integration.stack import require_distributed_services, running_stack, wait_for
from tests.support.dcmtk import storescu
from tests.support.onnx_models import write_model

pytestmark = pytest.mark.integration


def _config(archive: Path, urgent: Path) -> dict[str, Any]:
    template = "{SOPInstanceUID}.dcm"
    return {
        "destinations": [
            {"name": "archive", "type": "filesystem", "root": str(archive), "path_template": template},
            {"name": "urgent", "type": "filesystem", "root": str(urgent), "path_template": template},
        ],
        "rulesets": [
            {
                "name": "ai",
                "rules": [
                    {
                        "name": "chest-model",
                        "when": {"tag": "Modality", "equals": "CT"},
                        "actions": [{"infer": {"model": "chest", "write_private": True}}],
                        "destinations": ["archive"],
                    },
                    {
                        "name": "pneumonia-urgent",
                        "when": {"inference": {"model": "chest", "label": "pneumonia", "min_score": 0.8}},
                        "destinations": [{"name": "urgent", "priority": "high"}],
                    },
                ],
            }
        ],
    }


@pytest.mark.parametrize("mode", ["embedded", "distributed"])
def test_storescu_study_is_inferred_and_routed_by_the_finding(tmp_path: Path, mode: str) -> None:
    data_dir = tmp_path / "axiom"
    write_model(data_dir / "models", "chest", "1")
    study = generate_uid()
    files, bright = [], set()
    for index in range(6):
        ds = make_dataset(modality="CT", study_uid=study, instance_number=index + 1, variant=index)
        if index % 3 == 0:
            ds.RescaleIntercept = 1024
            bright.add(str(ds.SOPInstanceUID))
        files.append(write_instance(ds, tmp_path / "study" / f"{index}.dcm"))
    archive, urgent = tmp_path / "archive", tmp_path / "urgent"

    if mode == "distributed":
        require_distributed_services()
    with running_stack(mode, data_dir, {"AXIOM_AI_BATCH_WAIT_MS": "50"}) as stack:
        stack.apply(_config(archive, urgent))
        if mode == "embedded":
            stack.start("up")  # starts a gpu worker too: a model is installed
        else:
            gpu = {"gpu-worker": ["worker", "--queues", "gpu"]}
            stack.start("listen", "worker", "gpu-worker", args=gpu)
        storescu(files, "127.0.0.1", stack.dicom_port, "AXIOM")
        try:
            wait_for(lambda: len(list(archive.glob("*.dcm"))) == 6, 120, "six archived instances")
        except AssertionError:
            print(stack.log_tail(80))
            raise
        urgent_uids = {p.stem for p in urgent.glob("*.dcm")}
        assert urgent_uids == bright
        for path in urgent.glob("*.dcm"):
            block = dcmread(path).private_block(INFERENCE_GROUP, INFERENCE_CREATOR)
            assert block[0x03].value == "pneumonia"
        rows = stack.query("SELECT label, status, provider FROM inference_results")
        assert sorted(r[0] for r in rows) == ["normal"] * (6 - len(bright)) + ["pneumonia"] * len(bright)
        assert {(r[1], r[2]) for r in rows} == {("ok", "CPUExecutionProvider")}
        audits = stack.query("SELECT target, details FROM audit_logs WHERE action = 'model_call'")
        assert {a[0] for a in audits} == {p.stem for p in archive.glob("*.dcm")}
        # Batches depend on arrival timing; each call says which size of batch it ran in.
        sizes = [(json.loads(a[1]) if isinstance(a[1], str) else a[1])["batch_size"] for a in audits]
        assert all(1 <= size <= 8 for size in sizes), sizes
