"""Vertex AI Gemini analysis of a rendered key image, for anonymized instances only.

The instance's pixel data is rendered to an 8-bit greyscale PNG (modality LUT, the dataset's window,
longest side at most 512 pixels) and sent with a fixed prompt: no attribute of the dataset is sent.
Only Axiom's own anonymize output is sent: ``analyze`` takes an ``AnonymizedCopy``, which
``anonymized_copy`` makes only from edits that include the engine's anonymize step (and whose result
says ``PatientIdentityRemoved = YES``). A ``PatientIdentityRemoved = YES`` the sender wrote is not
trusted. Anything else is refused before anything is sent; pixel data with burned-in text is the
site's to exclude (a rule condition on BurnedInAnnotation, or the anonymize step's own burned-in
refusal).

Uses google-genai's Vertex AI backend (the `vertex` extra): google-cloud-aiplatform's
``vertexai.generative_models``, used before, was deprecated in June 2025 and announced for removal in
June 2026.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom import Dataset
from pydicom.pixels import apply_modality_lut

from axiom.ai.llm import CallHook
from axiom.ai.preprocess import (
    PreprocessError,
    color_to_unit,
    dataset_window,
    resize_bilinear,
    window_to_unit,
)
from rules.anonymize.plan import AnonymizeStep
from rules.engine import PlanAction
from rules.morph import apply_actions

PROMPT = (
    "You are assisting a radiology routing system. Describe the most important finding visible in "
    'this anonymized medical image. Answer with a JSON object {"finding": short text, '
    '"confidence": number between 0 and 1}.'
)
TRIAGE_PROMPT = (
    "You are assisting a radiology routing system. Decide whether this anonymized medical image "
    'shows a finding that needs urgent reading. Answer with a JSON object {"finding": "urgent" or '
    '"routine", "confidence": number between 0 and 1}.'
)
# The prompts an `analyze` rule action may name (prompt_id): fixed text, never built from the dataset.
PROMPTS = {"key-finding": PROMPT, "triage": TRIAGE_PROMPT}
MAX_SIDE = 512


class AnalysisRefused(ValueError):
    """The instance may not leave the site (not anonymized) or has no image to render."""


def is_anonymized(ds: Dataset) -> bool:
    return str(ds.get("PatientIdentityRemoved", "")).upper() == "YES"


@dataclass(frozen=True)
class AnonymizedCopy:
    """A copy of an instance that Axiom's anonymize step produced: made only by ``anonymized_copy``."""

    dataset: Dataset


def anonymized_copy(dataset: Dataset, actions: Sequence[PlanAction]) -> AnonymizedCopy:
    """The received ``dataset`` after the plan's ``actions`` up to an analysis, which must include
    the engine's anonymize step; AnalysisRefused otherwise (MorphError when an edit fails)."""
    if not any(isinstance(action, AnonymizeStep) for action in actions):
        raise AnalysisRefused(
            "not anonymized by Axiom: no anonymize step ran on this copy "
            "(a PatientIdentityRemoved the sender wrote is not trusted)"
        )
    copy = apply_actions(dataset, actions)
    if not is_anonymized(copy):
        raise AnalysisRefused("not anonymized: PatientIdentityRemoved is not YES after the rule's anonymize")
    return AnonymizedCopy(copy)


def _png(image: np.ndarray) -> bytes:
    """A minimal 8-bit PNG (no filter): greyscale for a 2-D uint8 array, RGB for (rows, cols, 3)."""
    rows, cols = image.shape[:2]
    color_type = 2 if image.ndim == 3 else 0
    raw = b"".join(b"\x00" + image[r].tobytes() for r in range(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", cols, rows, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def render_key_image(ds: Dataset, max_side: int = MAX_SIDE) -> bytes:
    """The instance's image as PNG bytes, as a reader would see it with its default window."""
    try:
        pixels = ds.pixel_array
    except Exception as exc:
        raise AnalysisRefused(f"pixel data could not be decoded: {type(exc).__name__}") from exc
    color = int(ds.get("SamplesPerPixel", 1) or 1) == 3
    if int(ds.get("NumberOfFrames", 1) or 1) > 1 and pixels.ndim == (4 if color else 3):
        pixels = pixels[pixels.shape[0] // 2]
    if color and pixels.ndim == 3 and pixels.shape[-1] == 3:
        try:
            planes = list(np.moveaxis(color_to_unit(pixels, ds), -1, 0))
        except PreprocessError as exc:
            raise AnalysisRefused(str(exc)) from exc
    elif pixels.ndim == 2:
        unit = window_to_unit(
            np.asarray(apply_modality_lut(pixels, ds), dtype=np.float32), dataset_window(ds)
        )
        if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1":
            unit = 1.0 - unit
        planes = [unit]
    else:
        raise AnalysisRefused(f"not a greyscale or RGB image: pixel array of shape {pixels.shape}")
    rows, cols = planes[0].shape
    scale = min(1.0, max_side / max(rows, cols))
    if scale < 1.0:
        size = (max(1, round(rows * scale)), max(1, round(cols * scale)))
        planes = [resize_bilinear(plane, size) for plane in planes]
    image = planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)
    return _png(np.round(image * 255).astype(np.uint8))


class GeminiAnalyzer:
    def __init__(
        self,
        *,
        project: str,
        location: str = "us-central1",
        model: str = "gemini-1.5-flash",
        api_endpoint: str = "",
        credentials: Any = None,
        on_call: CallHook | None = None,
    ) -> None:
        from google import genai
        from google.genai import types

        # google-genai wants a URL; a bare host (the form vertexai.init took) means HTTPS.
        base_url = api_endpoint if "://" in api_endpoint else f"https://{api_endpoint}"
        self.client = genai.Client(
            vertexai=True,
            project=project,
            location=location,
            credentials=credentials,
            http_options=types.HttpOptions(base_url=base_url) if api_endpoint else None,
        )
        self.model_name = model
        self.provider = f"vertex:{location}"
        self.on_call = on_call

    def analyze(self, copy: AnonymizedCopy, prompt: str = PROMPT) -> dict[str, Any]:
        """Gemini's finding for the copy's key image; AnalysisRefused before sending when not allowed."""
        if not isinstance(copy, AnonymizedCopy):
            raise AnalysisRefused("only Axiom's anonymize output (an AnonymizedCopy) may be sent")
        ds = copy.dataset
        try:
            image = render_key_image(ds)
        except PreprocessError as exc:
            raise AnalysisRefused(str(exc)) from exc
        from google.genai import types

        started = time.perf_counter()
        outcome = "ok"
        try:
            png = types.Part.from_bytes(data=image, mime_type="image/png")
            response = self.client.models.generate_content(
                model=self.model_name,
                contents=types.Content(role="user", parts=[png, types.Part.from_text(text=prompt)]),
                config=types.GenerateContentConfig(temperature=0, response_mime_type="application/json"),
            )
            # No text (a blocked or empty candidate) is a bad answer, as the old SDK's ValueError made it.
            text = response.text
            if text is None:
                raise ValueError("Gemini answered with no text")
            answer = json.loads(text)
            return answer if isinstance(answer, dict) else {"finding": str(answer)}
        except ValueError:
            outcome = "bad_answer"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            if self.on_call is not None:
                self.on_call(
                    {
                        "model": self.model_name,
                        "version": self.model_name,
                        "provider": self.provider,
                        "purpose": "key_image_analysis",
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                        "outcome": outcome,
                    }
                )
