"""Vertex AI Gemini key-image analysis through the real vertexai SDK (REST) against a local fake.

Only anonymized instances are sent, and only a rendered PNG and a fixed prompt leave.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

import numpy as np
import pytest
from google.auth.credentials import AnonymousCredentials

from axiom.ai.vertex import PROMPT, AnalysisRefused, GeminiAnalyzer, render_key_image
from rules.anonymize.plan import AnonymizeSpec
from rules.anonymize.run import anonymize
from tests.factories import LARGE, fake_patient, make_dataset
from tests.support.fake_vertex import FakeVertex

pytestmark = pytest.mark.filterwarnings("ignore:This feature is deprecated")


def _analyzer(server: FakeVertex, calls: list[dict[str, Any]]) -> GeminiAnalyzer:
    return GeminiAnalyzer(
        project="site-project",
        api_endpoint=server.endpoint,
        credentials=AnonymousCredentials(),
        on_call=calls.append,
    )


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return height, width


def test_an_anonymized_instance_is_sent_as_image_and_fixed_prompt_only() -> None:
    original = make_dataset(modality="CT", rows=LARGE, columns=LARGE, patient=fake_patient(5))
    ds = anonymize(original, AnonymizeSpec(profile="basic"), "secret").dataset
    calls: list[dict[str, Any]] = []
    with FakeVertex(lambda body: json.dumps({"finding": "no acute finding", "confidence": 0.7})) as server:
        answer = _analyzer(server, calls).analyze(ds)
        ((path, body),) = server.requests
    assert answer == {"finding": "no acute finding", "confidence": 0.7}
    assert path.endswith("publishers/google/models/gemini-1.5-flash:generateContent")
    (content,) = body["contents"]
    image_part, text_part = content["parts"]
    assert text_part == {"text": PROMPT}
    png = base64.b64decode(image_part["inlineData"]["data"])
    assert image_part["inlineData"]["mimeType"] == "image/png" and _png_size(png) == (512, 512)
    sent = json.dumps(body)
    for value in (
        original.PatientName,
        original.PatientID,
        original.StudyDate,
        original.StudyInstanceUID,
        ds.StudyInstanceUID,
        ds.SOPInstanceUID,
        original.AccessionNumber,
    ):
        assert str(value) not in sent
    assert [c["outcome"] for c in calls] == ["ok"] and calls[0]["provider"] == "vertex:us-central1"


def test_an_instance_not_anonymized_is_refused_before_anything_is_sent() -> None:
    calls: list[dict[str, Any]] = []
    with FakeVertex(lambda body: "{}") as server:
        with pytest.raises(AnalysisRefused, match="anonymized"):
            _analyzer(server, calls).analyze(make_dataset(modality="CT"))
        assert server.requests == [] and calls == []


def test_the_key_image_is_a_windowed_greyscale_png() -> None:
    ds = make_dataset(modality="CT", rows=LARGE, columns=LARGE // 2)
    png = render_key_image(ds, max_side=128)
    assert _png_size(png) == (128, 64)
    # IDAT holds one filter byte per row, then the pixels.
    idat = png[png.index(b"IDAT") + 4 :]
    raw = zlib.decompressobj().decompress(idat)
    pixels = np.frombuffer(raw[: 128 * 65], dtype=np.uint8).reshape(128, 65)[:, 1:]
    assert pixels.min() < pixels.max()
