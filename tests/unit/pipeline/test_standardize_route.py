"""A `standardize` rule through route_instance with the real openai client and a local fake of the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from pydicom import dcmread
from sqlalchemy import select

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.config import Settings
from axiom.db.models import AuditLog
from axiom.db.session import upgrade_database
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from tests.factories import fake_patient, make_dataset
from tests.support.fake_openai import FakeOpenAI, free_port
from tests.unit.pipeline.test_route import _spool_dataset

CONFIG: dict[str, Any] = {
    "destinations": [{"name": "archive", "type": "filesystem"}],
    "rulesets": [
        {
            "name": "tags",
            "rules": [
                {
                    "name": "standardize",
                    "actions": [{"standardize": {"tags": ["BodyPartExamined", "StudyDescription"]}}],
                    "destinations": ["archive"],
                }
            ],
        }
    ],
}
TERMS = {"TX": "CHEST", "Thorax w/o contrast": "CT CHEST"}


def _reply(body: dict[str, Any]) -> str:
    return json.dumps({"term": TERMS.get(json.loads(body["messages"][-1]["content"])["text"])})


def _runtime(tmp_path: Path, base_url: str) -> Runtime:
    vocabulary = tmp_path / "vocabulary.yaml"
    vocabulary.write_text(
        yaml.safe_dump({"BodyPartExamined": ["CHEST", "HEAD"], "StudyDescription": ["CT CHEST"]})
    )
    settings = Settings(
        data_dir=tmp_path / "data", spool_fsync=False, openai_base_url=base_url, ai_vocabulary_file=vocabulary
    )
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(CONFIG))
    rt = Runtime(settings)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    return rt


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(_reply) as server:
        yield server


def _send(rt: Runtime, tmp_path: Path, index: int) -> Path:
    ds = make_dataset(modality="CT", patient=fake_patient(index))
    ds.BodyPartExamined = "TX"
    ds.StudyDescription = "Thorax w/o contrast"
    ds.ProtocolName = "not asked for"
    route_instance(rt, message_for_spooled_file(_spool_dataset(rt, ds, tmp_path / f"{index}.dcm")))
    return rt.settings.destinations_root / "archive"


def _standardize_calls() -> float:
    return sum(
        sample.value
        for family in REGISTRY.collect()
        if family.name == "axiom_model_calls"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("purpose") == "standardize"
    )


def test_descriptions_are_standardized_on_the_way_and_each_text_asked_once(
    fake: FakeOpenAI, tmp_path: Path
) -> None:
    rt = _runtime(tmp_path, fake.base_url)
    before = _standardize_calls()
    try:
        for index in range(3):
            archive = _send(rt, tmp_path, index)
        delivered = [dcmread(p) for p in sorted(archive.rglob("*.dcm"))]
        assert [(d.BodyPartExamined, d.StudyDescription, d.ProtocolName) for d in delivered] == [
            ("CHEST", "CT CHEST", "not asked for")
        ] * 3
        assert len(fake.requests) == 2  # two distinct texts, three instances
        sent = b"".join(fake.raw_bodies).decode()
        assert "not asked for" not in sent and "PatientName" not in sent
        with rt.sessions() as session:
            audits = list(session.scalars(select(AuditLog).where(AuditLog.action == "model_call")))
        assert [(a.actor, (a.details or {})["outcome"]) for a in audits] == [("ai", "ok")] * 2
        # Each call is counted in metrics, labelled as audited (no text of the instance).
        details = audits[0].details or {}
        labels = {k: str(details[k]) for k in ("model", "provider", "purpose", "outcome")}
        assert labels["purpose"] == "standardize"
        assert _standardize_calls() == before + 2
        assert REGISTRY.get_sample_value("axiom_model_calls_total", labels) is not None
    finally:
        rt.close()


def test_an_unreachable_model_leaves_the_descriptions_and_routes(tmp_path: Path) -> None:
    rt = _runtime(tmp_path, f"http://127.0.0.1:{free_port()}/v1")
    try:
        archive = _send(rt, tmp_path, 0)
        (delivered,) = [dcmread(p) for p in archive.rglob("*.dcm")]
        assert delivered.BodyPartExamined == "TX"
    finally:
        rt.close()
