"""Vertex AI Gemini key-image analysis through the real google-genai client (Vertex AI backend)
against a local fake.

Only anonymized instances are sent, and only a rendered PNG and a fixed prompt leave.
"""

from __future__ import annotations

import base64
import json
import warnings
import zlib
from typing import Any

import numpy as np
import pytest
from google.genai.errors import ClientError
from google.oauth2.credentials import Credentials
from pydicom import Dataset

from axiom.ai.vertex import (
    PROMPT,
    AnalysisRefused,
    AnonymizedCopy,
    GeminiAnalyzer,
    anonymized_copy,
    render_key_image,
)
from rules.anonymize.plan import AnonymizeSpec, AnonymizeStep, plan_anonymize
from tests.factories import LARGE, fake_patient, make_dataset
from tests.support.fake_vertex import TOKEN, FakeVertex


def _analyzer(server: FakeVertex, calls: list[dict[str, Any]], token: str = TOKEN) -> GeminiAnalyzer:
    # A static access token: nothing to refresh, so no call goes to Google's token endpoint.
    return GeminiAnalyzer(
        project="site-project",
        api_endpoint=server.endpoint,
        credentials=Credentials(token=token),
        on_call=calls.append,
    )


def _anonymized_ct() -> tuple[Dataset, AnonymizedCopy]:
    original = make_dataset(modality="CT", rows=LARGE, columns=LARGE, patient=fake_patient(5))
    step = plan_anonymize(AnonymizeSpec(profile="basic"), original, "secret", lambda table, key: None)
    assert isinstance(step, AnonymizeStep)
    return original, anonymized_copy(original, [step])


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return height, width


def test_an_anonymized_instance_is_sent_as_image_and_fixed_prompt_only() -> None:
    original, ds = _anonymized_ct()
    calls: list[dict[str, Any]] = []
    with FakeVertex(lambda body: json.dumps({"finding": "no acute finding", "confidence": 0.7})) as server:
        # The SDK this replaced warned of its own deprecation on every use: the analyzer must not.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            answer = _analyzer(server, calls).analyze(ds)
        ((path, body),) = server.requests
    deprecations = [
        w
        for w in caught
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning))
        or "deprecat" in str(w.message).lower()
    ]
    assert deprecations == []
    assert answer == {"finding": "no acute finding", "confidence": 0.7}
    assert path == (
        "projects/site-project/locations/us-central1/publishers/google/models/gemini-1.5-flash:generateContent"
    )
    assert body["generationConfig"] == {"temperature": 0, "responseMimeType": "application/json"}
    (content,) = body["contents"]
    image_part, text_part = content["parts"]
    assert text_part == {"text": PROMPT}
    inline = image_part["inlineData"]
    png = base64.b64decode(inline["data"])
    # google-genai sends the field as mime_type, which Vertex's JSON parsing accepts like mimeType.
    assert inline.get("mimeType", inline.get("mime_type")) == "image/png" and _png_size(png) == (512, 512)
    sent = json.dumps(body)
    for value in (
        original.PatientName,
        original.PatientID,
        original.StudyDate,
        original.StudyInstanceUID,
        ds.dataset.StudyInstanceUID,
        ds.dataset.SOPInstanceUID,
        original.AccessionNumber,
    ):
        assert str(value) not in sent
    assert [c["outcome"] for c in calls] == ["ok"] and calls[0]["provider"] == "vertex:us-central1"


def test_an_unparsable_answer_and_a_refused_token_are_audited_as_such() -> None:
    _, ds = _anonymized_ct()
    calls: list[dict[str, Any]] = []
    with FakeVertex(lambda body: "no finding, sorry") as server:
        with pytest.raises(ValueError):
            _analyzer(server, calls).analyze(ds)
        with pytest.raises(ClientError):
            _analyzer(server, calls, token="stale-token").analyze(ds)
        assert len(server.requests) == 1
    assert [(c["outcome"], c["purpose"], c["model"]) for c in calls] == [
        ("bad_answer", "key_image_analysis", "gemini-1.5-flash"),
        ("error", "key_image_analysis", "gemini-1.5-flash"),
    ]


def test_an_instance_not_anonymized_is_refused_before_anything_is_sent() -> None:
    calls: list[dict[str, Any]] = []
    claimed = make_dataset(modality="CT", patient=fake_patient(5))
    claimed.PatientIdentityRemoved = "YES"  # the sender says so; Axiom did not anonymize it
    with FakeVertex(lambda body: "{}") as server:
        with pytest.raises(AnalysisRefused, match="anonymize"):
            _analyzer(server, calls).analyze(claimed)  # type: ignore[arg-type]
        with pytest.raises(AnalysisRefused, match="not anonymized by Axiom"):
            anonymized_copy(claimed, [])
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


def test_a_colour_key_image_is_an_rgb_png() -> None:
    from tests.unit.ai.test_preprocess import _color

    ds, rgb = _color()
    png = render_key_image(ds, max_side=512)
    assert _png_size(png) == (16, 24) and png[25] == 2  # colour type 2: RGB
    idat = png[png.index(b"IDAT") + 4 :]
    raw = zlib.decompressobj().decompress(idat)
    pixels = np.frombuffer(raw, dtype=np.uint8).reshape(16, 1 + 24 * 3)[:, 1:].reshape(16, 24, 3)
    np.testing.assert_array_equal(pixels, np.round(rgb * 255).astype(np.uint8))
