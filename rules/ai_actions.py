"""The rule actions that ask for a model: ``infer`` (an image model on the gpu queue), ``analyze`` (a
hosted model about the key image) and ``standardize`` (descriptions to the site vocabulary).

The engine runs none of them: it asks for what the context does not carry yet (``Plan.infer``,
``Plan.analyze``) or reads what the caller passed (``IngestContext.standardized``).
``rules.actions`` re-exports every name and holds them in the ``Action`` union.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class InferSpec(_Model):
    """Run model ``model`` (``version``: the latest when left out) on the instance before routing.

    The engine runs no model: it asks for the result (``Plan.infer``) and the worker runs the model on
    the gpu queue, stores the result and routes the instance again with it in the context, where
    ``inference`` conditions read it. ``write_private`` writes the result into the outgoing copy as a
    private block (group 0x0073, creator ``AXIOM AI``). ``emit_sr`` also sends, to the rule's
    destinations, a Basic Text SR holding the finding (label, score, model) that references the
    instance: a new instance of the same study, in a series of its own. ``emit_kos`` sends a Key
    Object Selection document flagging the instance "Of Interest" with the finding as its
    description; ``kos_labels`` limits it to results whose top label is one of them (e.g. only the
    positive finding). Per-instance rules send the documents at once; a series/study-complete rule's
    group holds them and sends them with the images it completes.
    """

    model: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    version: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
    write_private: bool = False
    # None: no document, like false (kept None so rules stored before the option dump as they did).
    emit_sr: bool | None = None
    emit_kos: bool | None = None
    kos_labels: list[str] | None = None


class InferAction(_Model):
    infer: InferSpec


class AnalyzeSpec(_Model):
    """Ask a hosted model about the instance's key image; its answer is stored as ``store_as``.

    Only the rendered image of the anonymized outgoing copy leaves the site: the action must come
    after an ``anonymize`` action of the same rule (a load error otherwise), and the worker refuses,
    and records why, a copy no anonymize step made or that does not carry PatientIdentityRemoved YES. The engine calls no
    model: it asks for the analysis (``Plan.analyze``), the worker runs it, stores the answer like a
    model result (label: the finding, scores: ``{finding: confidence}``) and routes the instance
    again, where ``inference`` conditions naming ``store_as`` read it.
    """

    provider: Literal["vertex"] = "vertex"
    # A prompt the worker knows (axiom.ai.vertex.PROMPTS); an unknown one is a recorded failure.
    prompt_id: str = Field(default="key-finding", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    store_as: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class AnalyzeAction(_Model):
    analyze: AnalyzeSpec


StandardizedTag = Literal["StudyDescription", "SeriesDescription", "BodyPartExamined", "ProtocolName"]
STANDARDIZED_TAGS: tuple[StandardizedTag, ...] = (
    "StudyDescription",
    "SeriesDescription",
    "BodyPartExamined",
    "ProtocolName",
)


class StandardizeSpec(_Model):
    """Replace free-text descriptions by the site vocabulary's term for them (see docs/ai.md).

    The engine asks no model: the caller passes the terms in ``IngestContext.standardized``
    (tag keyword -> term); a tag with no term there keeps its value.
    """

    tags: list[StandardizedTag] = Field(default_factory=lambda: list(STANDARDIZED_TAGS), min_length=1)


class StandardizeAction(_Model):
    standardize: StandardizeSpec
