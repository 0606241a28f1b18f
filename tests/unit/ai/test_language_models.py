"""Tag standardization and rule drafting through the real openai client and a local fake of the API.

The fake records every request body: the tests check that nothing identifying (names, IDs, dates,
UIDs) of the instance leaves, and that each distinct text is asked once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydicom import Dataset
from typer.testing import CliRunner

from axiom.ai.llm import ChatModel, LLMError
from axiom.ai.rule_draft import DraftError, draft_rule
from axiom.ai.tags import MemoryCache, RedisCache, TagStandardizer
from rules.model import Rule
from tests.factories import fake_patient, make_dataset
from tests.support.fake_openai import FakeOpenAI

VOCABULARY = {
    "BodyPartExamined": ["CHEST", "HEAD", "ABDOMEN"],
    "StudyDescription": ["CT CHEST", "CT HEAD", "MR BRAIN"],
    "SeriesDescription": ["AXIAL", "CORONAL"],
    "ProtocolName": ["CHEST ROUTINE", "HEAD ROUTINE"],
}
ANSWERS = {
    "THORAX": "CHEST",
    "Thorax w/o contrast": "CT CHEST",
    "ax 5mm": "AXIAL",
    "TX ROUTINE ADULT": "CHEST ROUTINE",
}


def _standardize_reply(body: dict[str, Any]) -> str:
    asked = json.loads(body["messages"][-1]["content"])
    return json.dumps({"term": ANSWERS.get(asked["text"])})


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(_standardize_reply) as server:
        yield server


def _model(server: FakeOpenAI, calls: list[dict[str, Any]] | None = None) -> ChatModel:
    return ChatModel(
        base_url=server.base_url,
        api_key="test",
        model="fake-1",
        on_call=None if calls is None else calls.append,
    )


def test_descriptions_map_to_the_vocabulary_and_nothing_identifying_leaves(fake: FakeOpenAI) -> None:
    calls: list[dict[str, Any]] = []
    ds = make_dataset(modality="CT", patient=fake_patient(3), accession="ACC7777777")
    ds.BodyPartExamined = "THORAX"
    ds.StudyDescription = "Thorax w/o contrast"
    ds.SeriesDescription = "ax 5mm"
    ds.ProtocolName = "TX ROUTINE ADULT"
    ds.PatientComments = "seen by Dr Who"
    standardizer = TagStandardizer(_model(fake, calls), VOCABULARY, MemoryCache())

    assert standardizer.standardize_dataset(ds) == {
        "StudyDescription": "CT CHEST",
        "SeriesDescription": "AXIAL",
        "BodyPartExamined": "CHEST",
        "ProtocolName": "CHEST ROUTINE",
    }
    assert len(fake.requests) == 4
    sent = b"\n".join(fake.raw_bodies).decode()
    identifying = [
        str(ds.PatientName),
        str(ds.PatientName).split("^")[0],
        ds.PatientID,
        ds.PatientBirthDate,
        ds.StudyDate,
        ds.AccessionNumber,
        ds.StudyInstanceUID,
        ds.SOPInstanceUID,
        "Dr Who",
    ]
    assert [value for value in identifying if value and str(value) in sent] == []
    # The model was asked at temperature 0 for a JSON object, and every call was reported for audit.
    assert {r["temperature"] for r in fake.requests} == {0}
    assert {r["response_format"]["type"] for r in fake.requests} == {"json_object"}
    assert [c["outcome"] for c in calls] == ["ok"] * 4
    assert {c["model"] for c in calls} == {"fake-1"}
    assert all(c["duration_ms"] > 0 and "openai-compatible" in c["provider"] for c in calls)


def test_identifying_values_inside_descriptions_are_scrubbed_before_they_leave(fake: FakeOpenAI) -> None:
    """Descriptions carry names, IDs and dates in real life: each value found elsewhere in the
    instance (top level or in a sequence) is cut out of the text before it is sent."""
    ds = make_dataset(modality="CT", patient=fake_patient(3), accession="ACC7777777")
    ds.PatientName = "Smith^John"
    ds.PatientID = "MRN-12345"
    ds.StudyDate = "20240115"
    ds.ReferringPhysicianName = "Whoever^Gregory"
    ds.RequestAttributesSequence = [Dataset()]
    ds.RequestAttributesSequence[0].RequestedProcedureID = "RP-998877"
    ds.StudyDescription = "CT CHEST Smith^John (john smith) MRN-12345 15.01.2024 Whoever"
    ds.SeriesDescription = "ax 5mm RP-998877 ACC7777777 2024-01-15"
    standardizer = TagStandardizer(_model(fake), VOCABULARY, MemoryCache())
    standardizer.standardize_dataset(ds, ["StudyDescription", "SeriesDescription"])

    texts = [json.loads(r["messages"][-1]["content"])["text"] for r in fake.requests]
    assert texts == [
        "CT CHEST [removed] ([removed]) [removed] [removed] [removed]",
        "ax 5mm [removed] [removed] [removed]",
    ]
    sent = b"\n".join(fake.raw_bodies).decode().lower()
    for value in ("smith", "john", "12345", "15.01.2024", "2024-01-15", "whoever", "998877", "7777777"):
        assert value not in sent, value


def test_each_distinct_text_is_asked_once(fake: FakeOpenAI) -> None:
    standardizer = TagStandardizer(_model(fake), VOCABULARY, MemoryCache())
    for _ in range(3):
        assert standardizer.standardize("BodyPartExamined", "THORAX") == "CHEST"
        assert standardizer.standardize("BodyPartExamined", "unknown words") is None  # cached too
    assert len(fake.requests) == 2


def test_the_cache_is_shared_through_redis(fake: FakeOpenAI, redis_url: str) -> None:
    first = TagStandardizer(_model(fake), VOCABULARY, RedisCache(redis_url))
    second = TagStandardizer(_model(fake), VOCABULARY, RedisCache(redis_url))
    assert first.standardize("BodyPartExamined", "THORAX") == "CHEST"
    assert second.standardize("BodyPartExamined", "THORAX") == "CHEST"
    assert len(fake.requests) == 1


def test_a_term_outside_the_vocabulary_is_refused() -> None:
    with FakeOpenAI(lambda body: json.dumps({"term": "LUNGS"})) as server:
        standardizer = TagStandardizer(_model(server), VOCABULARY, MemoryCache())
        assert standardizer.standardize("BodyPartExamined", "lungs") is None


def test_unreachable_or_malformed_answers_are_llm_errors() -> None:
    calls: list[dict[str, Any]] = []
    with FakeOpenAI(lambda body: "not json") as server, pytest.raises(LLMError):
        _model(server, calls).ask_json("s", "u", purpose="test")
    assert calls[-1]["outcome"] == "bad_answer"


RULE_ANSWER = {
    "rule": {
        "name": "ct-pneumonia-urgent",
        "when": {
            "all": [
                {"tag": "Modality", "equals": "CT"},
                {"inference": {"model": "chest", "label": "pneumonia", "min_score": 0.8}},
            ]
        },
        "destinations": [{"name": "urgent", "priority": "high"}],
    }
}


def test_a_drafted_rule_is_validated_and_shown_as_yaml() -> None:
    with FakeOpenAI(lambda body: json.dumps(RULE_ANSWER)) as server:
        rule, text = draft_rule(_model(server), "Send CT with pneumonia above 0.8 to urgent", ["urgent"])
        (request,) = server.requests
    assert Rule.model_validate(yaml.safe_load(text)) == rule
    assert rule.priorities == {"urgent": "high"}
    assert "Known destinations: urgent" in request["messages"][0]["content"]
    assert request["messages"][1]["content"] == "Send CT with pneumonia above 0.8 to urgent"


def test_an_invalid_drafted_rule_is_refused_with_its_errors() -> None:
    bad = {"rule": {"name": "x", "when": {"tag": "NoSuchTag", "equals": "1"}, "actions": [{"explode": {}}]}}
    with FakeOpenAI(lambda body: json.dumps(bad)) as server, pytest.raises(DraftError) as caught:
        draft_rule(_model(server), "something")
    assert caught.value.errors


def test_rules_draft_command_prints_the_rule_and_audits_the_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import select

    from axiom.config import Settings
    from axiom.db.models import AuditLog
    from cli.db_sessions import open_sessions
    from cli.main import app

    with FakeOpenAI(lambda body: json.dumps(RULE_ANSWER)) as server:
        monkeypatch.setenv("AXIOM_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("AXIOM_OPENAI_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["rules", "draft", "CT with pneumonia to urgent"])
    assert result.exit_code == 0, result.output
    assert "Draft only" in result.output and "Not configured yet: urgent" in result.output
    assert "ct-pneumonia-urgent" in result.output
    with open_sessions(Settings(data_dir=tmp_path / "data"))() as session:
        (audit,) = session.scalars(select(AuditLog).where(AuditLog.action == "model_call"))
    assert audit.details is not None and audit.details["outcome"] == "ok"
