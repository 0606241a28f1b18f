"""Language-model use cases wired to settings and the database: every call leaves an audit row."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from axiom import metrics
from axiom.ai.llm import CallHook, ChatModel
from axiom.ai.rule_draft import draft_rule, unknown_destinations
from axiom.ai.tags import TagStandardizer, load_vocabulary, make_cache
from axiom.ai.vertex import GeminiAnalyzer
from axiom.config import Settings
from axiom.db.repositories import config as config_repo
from axiom.db.repositories.audit import add_audit

AUDIT_ACTION = "model_call"


def audit_hook(sessions: sessionmaker[Session], actor: str, target: str) -> CallHook:
    """Writes one audit row per model call (model, version, provider, duration, outcome)."""

    def record(details: dict[str, Any]) -> None:
        metrics.observe_model_call(details, purpose="language_model")
        with sessions() as session:
            add_audit(session, actor=actor, action=AUDIT_ACTION, target=target, details=details)
            session.commit()

    return record


def chat_model(settings: Settings, on_call: CallHook | None = None) -> ChatModel:
    return ChatModel(
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key.get_secret_value(),
        model=settings.openai_model,
        on_call=on_call,
    )


def standardizer(settings: Settings, on_call: CallHook | None = None) -> TagStandardizer:
    if settings.ai_vocabulary_file is None:
        raise ValueError("no site vocabulary: set AXIOM_AI_VOCABULARY_FILE")
    return TagStandardizer(
        chat_model(settings, on_call),
        load_vocabulary(settings.ai_vocabulary_file),
        make_cache(settings.cache_url),
    )


def gemini_analyzer(settings: Settings, on_call: CallHook | None = None) -> GeminiAnalyzer:
    """Vertex AI Gemini key-image analysis (anonymized instances only); needs AXIOM_VERTEX_PROJECT."""
    if not settings.vertex_project:
        raise ValueError("Vertex AI analysis is off: set AXIOM_VERTEX_PROJECT")
    return GeminiAnalyzer(
        project=settings.vertex_project,
        location=settings.vertex_location,
        model=settings.vertex_model,
        api_endpoint=settings.vertex_endpoint,
        on_call=on_call,
    )


def draft(
    settings: Settings, sessions: sessionmaker[Session], sentence: str, actor: str
) -> tuple[str, list[str]]:
    """(the validated rule as YAML, destinations it names that are not configured)."""
    with sessions() as session:
        names = sorted(config_repo.load_destination_configs(session))
    model = chat_model(settings, audit_hook(sessions, actor, "rules draft"))
    rule, text = draft_rule(model, sentence, names)
    return text, unknown_destinations(rule, names)
