"""The `analyze` rule action through route_instance: the real google-genai client
(Vertex AI backend) against a local fake Vertex.

Real SQLite, spool and filesystem destinations. Only the rendered image of the rule's anonymized copy
and a fixed prompt are sent; the answer is stored like a model result and read by later rules.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.oauth2.credentials import Credentials
from pydantic import ValidationError
from pydicom import Dataset, dcmread
from sqlalchemy import select

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.ai.analysis import run_analyses
from axiom.ai.llm import CallHook
from axiom.ai.vertex import TRIAGE_PROMPT, GeminiAnalyzer
from axiom.config import Settings
from axiom.db.models import AuditLog, InferenceRecord
from axiom.db.session import upgrade_database
from axiom.domain.instances import InstanceStatus
from axiom.pipeline.recover import message_for_spooled_file
from axiom.pipeline.route import route_instance
from axiom.pipeline.runtime import Runtime
from rules.actions import AnalyzeSpec, SetAction
from rules.anonymize.plan import AnonymizeStep
from rules.engine import AnalysisRequest, evaluate
from rules.model import InferenceResult, IngestContext, Rule, Ruleset
from tests.factories import fake_patient, make_dataset
from tests.support.fake_vertex import TOKEN, FakeVertex
from tests.unit.pipeline.test_route import _spool_dataset

ANALYZE = {"analyze": {"provider": "vertex", "prompt_id": "triage", "store_as": "gemini-triage"}}


def _config(actions: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "destinations": [
            {"name": "archive", "type": "filesystem"},
            {"name": "urgent", "type": "filesystem"},
        ],
        "rulesets": [
            {
                "name": "ai",
                "rules": [
                    {
                        "name": "gemini",
                        "when": {"tag": "Modality", "in": ["CT"]},
                        "actions": actions,
                        "destinations": ["archive"],
                    },
                    {
                        "name": "urgent-read",
                        "when": {
                            "inference": {"model": "gemini-triage", "label": "urgent", "min_score": 0.8}
                        },
                        "destinations": [{"name": "urgent", "priority": "high"}],
                    },
                ],
            }
        ],
    }


def _runtime(tmp_path: Path, actions: list[dict[str, Any]], server: FakeVertex) -> Runtime:
    settings = Settings(data_dir=tmp_path / "data", spool_fsync=False)
    settings.ensure_dirs()
    upgrade_database(settings.effective_database_url)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(_config(actions)))

    def analyzer(on_call: CallHook) -> GeminiAnalyzer:
        return GeminiAnalyzer(
            project="site-project",
            api_endpoint=server.endpoint,
            credentials=Credentials(token=TOKEN),
            on_call=on_call,
        )

    rt = Runtime(settings, make_analyzer=analyzer)
    with rt.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()

    return rt


@pytest.fixture
def server() -> Iterator[FakeVertex]:
    with FakeVertex(lambda body: json.dumps({"finding": "urgent", "confidence": 0.9})) as fake:
        yield fake


def _image() -> Dataset:
    ds = make_dataset(modality="CT", patient=fake_patient(7))
    ds.InstitutionName = "St Elsewhere General"
    ds.StudyDescription = "CHEST PAIN DR HOUSE"
    return ds


def _records(rt: Runtime) -> list[InferenceRecord]:
    with rt.sessions() as session:
        return list(session.scalars(select(InferenceRecord)))


def _audits(rt: Runtime) -> list[dict[str, Any]]:
    with rt.sessions() as session:
        return [a.details or {} for a in session.scalars(select(AuditLog).where(AuditLog.actor == "ai"))]


def _delivered(rt: Runtime, name: str) -> list[Dataset]:
    return [dcmread(p) for p in sorted((rt.settings.destinations_root / name).rglob("*.dcm"))]


def test_the_anonymized_key_image_is_analyzed_and_later_rules_route_on_the_answer(
    tmp_path: Path, server: FakeVertex
) -> None:
    rt = _runtime(tmp_path, [{"anonymize": {"profile": "basic"}}, ANALYZE], server)
    try:
        image = _image()
        message = message_for_spooled_file(_spool_dataset(rt, image, tmp_path / "ct.dcm"), source="listener")
        outcome = route_instance(rt, message)
        assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
        assert outcome.delivered == ["urgent", "archive"]

        ((path, body),) = server.requests
        assert path.endswith("publishers/google/models/gemini-1.5-flash:generateContent")
        image_part, text_part = body["contents"][0]["parts"]
        assert text_part == {"text": TRIAGE_PROMPT}
        inline = image_part["inlineData"]
        assert inline.get("mimeType", inline.get("mime_type")) == "image/png"
        assert base64.b64decode(inline["data"]).startswith(b"\x89PNG")
        sent = json.dumps(body)
        (anonymized,) = _delivered(rt, "archive")
        for value in (
            image.PatientName,
            str(image.PatientName).split("^")[0],
            image.PatientID,
            image.PatientBirthDate,
            image.StudyDate,
            image.AccessionNumber,
            image.StudyInstanceUID,
            image.SeriesInstanceUID,
            image.SOPInstanceUID,
            anonymized.PatientID,
            anonymized.StudyInstanceUID,
            anonymized.SOPInstanceUID,
            "Elsewhere",
            "HOUSE",
        ):
            assert str(value) and str(value) not in sent, value

        (record,) = _records(rt)
        assert (record.model, record.status, record.label, record.scores) == (
            "gemini-triage",
            "ok",
            "urgent",
            {"urgent": 0.9},
        )
        assert record.provider == "vertex:us-central1" and record.model_version == "gemini-1.5-flash"
        (audit,) = _audits(rt)
        assert audit["outcome"] == "ok" and audit["purpose"] == "key_image_analysis"

        # A rerun of the same content reads the stored answer: no second request.
        path2 = _spool_dataset(rt, image, tmp_path / "again.dcm")
        route_instance(rt, message_for_spooled_file(path2, source="listener"))
        assert len(server.requests) == 1
    finally:
        rt.close()


def test_a_copy_that_is_not_anonymized_after_the_rule_is_refused_and_the_reason_recorded(
    tmp_path: Path, server: FakeVertex
) -> None:
    actions = [
        {"anonymize": {"profile": "basic"}},
        {"set": {"tag": "PatientIdentityRemoved", "value": "NO"}},
        ANALYZE,
    ]
    rt = _runtime(tmp_path, actions, server)
    try:
        message = message_for_spooled_file(
            _spool_dataset(rt, _image(), tmp_path / "ct.dcm"), source="listener"
        )
        outcome = route_instance(rt, message)
        assert outcome is not None and outcome.status == InstanceStatus.DELIVERED
        assert server.requests == []
        assert outcome.delivered == ["archive"]  # the urgent rule reads no answer
        (record,) = _records(rt)
        assert (record.model, record.status) == ("gemini-triage", "failed")
        (audit,) = _audits(rt)
        assert audit["outcome"] == "refused" and "PatientIdentityRemoved" in audit["reason"]
        assert audit["rule"] == "ai/gemini"
    finally:
        rt.close()


def test_analyze_without_an_anonymize_before_it_in_the_rule_is_a_load_error() -> None:
    with pytest.raises(ValidationError, match="anonymize action before it"):
        Rule.model_validate({"name": "r", "actions": [ANALYZE]})
    with pytest.raises(ValidationError, match="anonymize action before it"):
        Rule.model_validate({"name": "r", "actions": [ANALYZE, {"anonymize": {"profile": "basic"}}]})


def test_the_engine_plans_the_analysis_with_the_edits_up_to_it() -> None:
    actions = [
        {"anonymize": {"profile": "basic"}},
        ANALYZE,
        {"set": {"tag": "StudyDescription", "value": "x"}},
    ]
    ruleset = Ruleset.model_validate(_config(actions)["rulesets"][0])
    ds = make_dataset(modality="CT")
    ctx = IngestContext(anon_secret="s" * 32)
    (request,) = evaluate([ruleset], ds, ctx).analyze
    assert request.rule == "ai/gemini" and request.spec.store_as == "gemini-triage"
    assert [type(a) for a in request.actions] == [AnonymizeStep]
    answered = ctx.model_copy(
        update={"inference": {"gemini-triage": InferenceResult(label="urgent", scores={"urgent": 0.95})}}
    )
    plan = evaluate([ruleset], ds, answered)
    assert plan.analyze == () and set(plan.destinations) == {"urgent", "archive"}


def test_a_sender_supplied_patient_identity_removed_is_not_trusted(server: FakeVertex) -> None:
    """Only Axiom's own anonymize output leaves: a copy no anonymize step made is refused before
    anything is sent, whatever its PatientIdentityRemoved says."""
    claimed = _image()
    claimed.PatientIdentityRemoved = "YES"
    spec = AnalyzeSpec.model_validate(ANALYZE["analyze"])
    set_yes = SetAction.model_validate({"set": {"tag": "PatientIdentityRemoved", "value": "YES"}})
    requests = [AnalysisRequest("ai/gemini", spec, ()), AnalysisRequest("ai/gemini", spec, (set_yes,))]

    def analyzer(on_call: CallHook) -> GeminiAnalyzer:
        return GeminiAnalyzer(
            project="site-project", api_endpoint=server.endpoint, credentials=Credentials(token=TOKEN)
        )

    done = run_analyses(analyzer, lambda details: None, claimed, requests)
    assert server.requests == []
    assert [(a.result.status, "not anonymized by Axiom" in a.reason) for a in done] == [("failed", True)] * 2
