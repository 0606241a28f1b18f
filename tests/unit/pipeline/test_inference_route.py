"""An `infer` rule through route_instance: real SQLite, spool, ONNX model on CPU and filesystem destinations.

The model is the tiny brightness classifier (tests/support/onnx_models.py): a CT whose pixels are
shifted bright by its Rescale Intercept reads "pneumonia", the plain phantom reads "normal".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from pydicom import dcmread
from sqlalchemy import select

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.ai.infer_and_route import infer_and_route
from axiom.config import Settings
from axiom.db.models import AuditLog, InferenceRecord
from axiom.db.repositories.inference import providers_in_use
from axiom.db.session import upgrade_database
from axiom.domain.instances import InstanceStatus
from axiom.domain.messages import InstanceMessage
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from rules.engine import INFERENCE_CREATOR, INFERENCE_GROUP
from rules.model import InferSpec
from tests.factories import make_dataset, write_instance
from tests.support.onnx_models import write_model
from tests.unit.pipeline.test_route import _spool_dataset

CONFIG: dict[str, Any] = {
    "destinations": [
        {"name": "archive", "type": "filesystem"},
        {"name": "urgent", "type": "filesystem"},
    ],
    "rulesets": [
        {
            "name": "ai",
            "rules": [
                {
                    "name": "chest-model",
                    "when": {"tag": "Modality", "in": ["CT", "MR"]},
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


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False, ai_batch_wait_ms=1)
    settings.ensure_dirs()
    write_model(settings.ai_models_path, "chest", "1")
    upgrade_database(settings.effective_database_url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    rt = Runtime(settings)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    yield rt
    rt.close()


def _spool(runtime: Runtime, tmp_path: Path, *, bright: bool, modality: str = "CT") -> InstanceMessage:
    ds = make_dataset(modality=modality)
    if bright:
        ds.RescaleIntercept = 1024
    path = _spool_dataset(runtime, ds, tmp_path / f"{modality}-{bright}.dcm")
    return message_for_spooled_file(path, source="listener")


def _delivered(runtime: Runtime, name: str) -> list[Path]:
    return sorted((runtime.settings.destinations_root / name).rglob("*.dcm"))


def _records(runtime: Runtime) -> list[InferenceRecord]:
    with runtime.sessions() as session:
        return list(session.scalars(select(InferenceRecord)))


def _audits(runtime: Runtime) -> list[AuditLog]:
    with runtime.sessions() as session:
        return list(session.scalars(select(AuditLog).where(AuditLog.actor == "ai")))


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_finding_routes_to_the_urgent_destination_with_the_result_inside(
    runtime: Runtime, tmp_path: Path
) -> None:
    call = {
        "model": "chest",
        "provider": "CPUExecutionProvider",
        "purpose": "image_inference",
        "outcome": "ok",
    }
    calls_before = _sample("axiom_model_calls_total", **call)
    batches_before = _sample("axiom_model_batch_size_count", model="chest")
    preprocess_before = _sample("axiom_model_preprocess_seconds_count", model="chest")
    message = _spool(runtime, tmp_path, bright=True)
    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert outcome.delivered == ["urgent", "archive"]  # high priority first
    (sent,) = _delivered(runtime, "urgent")
    block = dcmread(sent).private_block(INFERENCE_GROUP, INFERENCE_CREATOR)
    assert block[0x03].value == "pneumonia" and float(block[0x04].value) > 0.99
    (record,) = _records(runtime)
    assert (record.model, record.model_version, record.status, record.label) == (
        "chest",
        "1",
        "ok",
        "pneumonia",
    )
    assert record.provider == "CPUExecutionProvider"
    (audit,) = _audits(runtime)
    assert audit.action == "model_call" and audit.target == message.sop_instance_uid
    assert audit.details is not None
    assert {k: audit.details[k] for k in ("model", "version", "provider", "outcome")} == {
        "model": "chest",
        "version": "1",
        "provider": "CPUExecutionProvider",
        "outcome": "ok",
    }
    assert audit.details["duration_ms"] > 0 and audit.details["batch_size"] == 1
    with runtime.sessions() as session:
        assert providers_in_use(session) == {"chest:1": "CPUExecutionProvider"}
    # Counted in metrics too: the call, its batch, its preprocessing, the provider the model runs on.
    assert _sample("axiom_model_calls_total", **call) == calls_before + 1
    assert _sample("axiom_model_batch_size_count", model="chest") == batches_before + 1
    assert _sample("axiom_model_preprocess_seconds_count", model="chest") == preprocess_before + 1
    loaded = {"model": "chest", "version": "1", "provider": "CPUExecutionProvider"}
    assert _sample("axiom_model_loaded", **loaded) == 1


def test_no_finding_goes_to_the_archive_only(runtime: Runtime, tmp_path: Path) -> None:
    route_instance(runtime, _spool(runtime, tmp_path, bright=False))
    assert _delivered(runtime, "urgent") == []
    assert len(_delivered(runtime, "archive")) == 1
    assert [r.label for r in _records(runtime)] == ["normal"]


def test_a_modality_the_model_does_not_take_is_skipped_and_still_routed(
    runtime: Runtime, tmp_path: Path
) -> None:
    route_instance(runtime, _spool(runtime, tmp_path, bright=True, modality="MR"))
    assert len(_delivered(runtime, "archive")) == 1 and _delivered(runtime, "urgent") == []
    assert [r.status for r in _records(runtime)] == ["skipped"]
    (archived,) = _delivered(runtime, "archive")
    assert not [e for e in dcmread(archived) if e.tag.group == INFERENCE_GROUP]


def test_with_a_gpu_queue_the_instance_is_handed_over_then_routed_again(
    runtime: Runtime, tmp_path: Path
) -> None:
    dispatched: list[tuple[InstanceMessage, list[InferSpec]]] = []
    rerouted: list[InstanceMessage] = []
    # The worker role's wiring, as workers/runtime.py builds it.
    runtime = Runtime(
        runtime.settings,
        dispatch_inference=lambda message, specs: dispatched.append((message, specs)),
        reroute=rerouted.append,
    )
    message = _spool(runtime, tmp_path, bright=True)

    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == "inferring"
    assert Path(message.spool_path).exists() and _delivered(runtime, "archive") == []
    ((sent, specs),) = dispatched

    # The gpu worker's task: run the model, store the result, publish the instance for routing.
    assert infer_and_route(runtime, sent, [s.model_dump() for s in specs]) == "chest:ok"
    assert rerouted == [message]
    outcome = route_instance(runtime, message)
    assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
    assert len(_delivered(runtime, "urgent")) == 1
    assert len(_audits(runtime)) == 1  # the routing pass read the stored result, no second model call


def test_an_unknown_model_is_audited_as_failed_and_the_instance_still_routes(
    runtime: Runtime, tmp_path: Path
) -> None:
    message = _spool(runtime, tmp_path, bright=True)
    assert infer_and_route(runtime, message, [{"model": "missing"}]) == "missing:failed"
    # Routed again inline, where the rule's own model (chest) ran: both calls are audited.
    outcomes = sorted((a.details or {})["outcome"] for a in _audits(runtime))
    assert outcomes == ["ok", "unknown_model"]
    assert len(_delivered(runtime, "urgent")) == 1


def test_a_dry_run_names_the_models_it_would_run_first(runtime: Runtime, tmp_path: Path) -> None:
    from axiom.admin.dry_run import dry_run_files

    path = tmp_path / "dry.dcm"
    write_instance(make_dataset(modality="CT"), path)
    (report,) = dry_run_files(runtime.sessions, [path])
    assert report.infer == ["chest"]
    assert [d.name for d in report.destinations] == ["archive"]
    assert _records(runtime) == []  # nothing ran
