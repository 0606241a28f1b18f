"""Run the ``analyze`` rule actions of one instance: Vertex AI Gemini on the anonymized key image.

For each request the engine planned, the plan's edits up to the action (its rule's anonymize step
included) are applied to the received dataset; only a copy that Axiom's anonymize step produced (and
that then says PatientIdentityRemoved YES) is rendered and sent, with a fixed prompt: a
PatientIdentityRemoved YES the sender wrote is not trusted. Anything else is refused before a request is made, and
the refusal is stored (status ``failed``) and audited with its reason. Answers are stored in
``inference_results`` under the action's ``store_as`` name (label: the finding, scores:
``{finding: confidence}``), where the next routing pass reads them like model results.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydicom import Dataset
from sqlalchemy.orm import Session

from axiom import metrics
from axiom.ai.llm import CallHook
from axiom.ai.vertex import PROMPTS, AnalysisRefused, GeminiAnalyzer, anonymized_copy
from axiom.db.repositories import inference as inference_repo
from axiom.db.repositories.audit import add_audit
from rules.engine import AnalysisRequest
from rules.model import InferenceResult
from rules.morph import MorphError

log = structlog.get_logger("axiom.analysis")

AUDIT_ACTOR = "ai"
AUDIT_ACTION = "model_call"
LABEL_LENGTH = 64


@dataclass(frozen=True)
class Analysis:
    """One analysis request's outcome, as stored (and, when refused before sending, audited)."""

    store_as: str
    result: InferenceResult
    provider: str
    duration_ms: float
    # Why nothing was sent or no answer stored; "" when the call answered.
    reason: str = ""
    # The audit details of a refusal (a call that was made is audited by the analyzer's hook).
    refusal: dict[str, Any] = field(default_factory=dict)


def _answer(answer: dict[str, Any]) -> InferenceResult:
    label = str(answer.get("finding", "")).strip()[:LABEL_LENGTH]
    try:
        confidence = min(1.0, max(0.0, float(answer.get("confidence", 0.0))))
    except (TypeError, ValueError):
        confidence = 0.0
    if not label:
        return InferenceResult(status="failed")
    return InferenceResult(status="ok", label=label, scores={label: confidence})


def _refused(request: AnalysisRequest, started: float, reason: str) -> Analysis:
    spec = request.spec
    ms = (time.perf_counter() - started) * 1000
    details = {
        "model": spec.store_as,
        "provider": spec.provider,
        "purpose": "key_image_analysis",
        "outcome": "refused",
        "reason": reason,
        "rule": request.rule,
        "duration_ms": round(ms, 3),
    }
    log.warning("analysis refused", store_as=spec.store_as, rule=request.rule, reason=reason)
    return Analysis(spec.store_as, InferenceResult(status="failed"), spec.provider, ms, reason, details)


def run_analyses(
    make_analyzer: Callable[[CallHook], GeminiAnalyzer],
    on_call: CallHook,
    dataset: Dataset,
    requests: Sequence[AnalysisRequest],
) -> list[Analysis]:
    """Ask for each analysis (no database session is held meanwhile: the hook writes its own rows)."""
    done: list[Analysis] = []
    analyzer: GeminiAnalyzer | None = None
    for request in requests:
        spec = request.spec
        started = time.perf_counter()
        prompt = PROMPTS.get(spec.prompt_id)
        if prompt is None:
            done.append(_refused(request, started, f"unknown prompt_id {spec.prompt_id!r}"))
            continue
        try:
            copy = anonymized_copy(dataset, request.actions)
        except MorphError as exc:
            done.append(_refused(request, started, f"the rule's edits failed: {exc}"))
            continue
        except AnalysisRefused as exc:
            done.append(_refused(request, started, str(exc)))
            continue
        try:
            analyzer = analyzer or make_analyzer(on_call)
            answer = analyzer.analyze(copy, prompt)
        except AnalysisRefused as exc:
            done.append(_refused(request, started, str(exc)))
            continue
        except Exception as exc:
            # Audited by the analyzer's hook (outcome error / bad_answer) when the call was made.
            log.error("analysis failed", store_as=spec.store_as, error=type(exc).__name__)
            ms = (time.perf_counter() - started) * 1000
            result = InferenceResult(status="failed")
            done.append(Analysis(spec.store_as, result, spec.provider, ms, type(exc).__name__))
            continue
        ms = (time.perf_counter() - started) * 1000
        result = _answer(answer).model_copy(update={"version": analyzer.model_name})
        done.append(Analysis(spec.store_as, result, analyzer.provider, ms))
    return done


def store_analyses(
    session: Session, analyses: Sequence[Analysis], *, sop_instance_uid: str, content_hash: str
) -> None:
    """Store each outcome as the result of ``store_as``; refusals also get their audit row."""
    for item in analyses:
        inference_repo.save_result(
            session,
            sop_instance_uid=sop_instance_uid,
            content_hash=content_hash,
            model=item.store_as,
            model_version=item.result.version,
            status=item.result.status,
            label=item.result.label,
            scores=item.result.scores,
            provider=item.provider,
            duration_ms=item.duration_ms,
        )
        if item.refusal:
            add_audit(
                session, actor=AUDIT_ACTOR, action=AUDIT_ACTION, target=sop_instance_uid, details=item.refusal
            )
            metrics.observe_model_call(item.refusal, purpose="key_image_analysis")
