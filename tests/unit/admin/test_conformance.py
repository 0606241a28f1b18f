"""docs/conformance.md is the generated statement, and the statement says what the listener negotiates."""

from __future__ import annotations

from pathlib import Path

from pydicom.uid import UID

from axiom.admin.conformance import conformance_markdown, scp_contexts
from axiom.config import Settings
from axiom.pipeline.listener import build_ae

ROOT = Path(__file__).resolve().parents[3]


def test_published_statement_is_the_generated_one() -> None:
    published = (ROOT / "docs" / "conformance.md").read_text()
    assert published == conformance_markdown(), (
        "docs/conformance.md is stale; run: python -m axiom.admin.conformance > docs/conformance.md"
    )


def test_every_context_the_listener_accepts_is_in_the_statement() -> None:
    text = conformance_markdown()
    ae = build_ae(Settings.model_construct())
    assert len(scp_contexts(Settings.model_construct())) == len(ae.supported_contexts) > 100
    for cx in ae.supported_contexts:
        assert f"`{cx.abstract_syntax}`" in text
        for syntax in cx.transfer_syntax:
            assert f"{UID(syntax).name} `{syntax}`" in text


def test_statement_follows_the_settings_it_is_given() -> None:
    text = conformance_markdown(Settings.model_construct(ae_title="ROUTER", dicom_max_associations=7))
    assert "(default `ROUTER`)" in text
    assert "| Associations at once | 7 (`AXIOM_DICOM_MAX_ASSOCIATIONS`) |" in text


def test_storage_commitment_follows_its_setting() -> None:
    commitment = "`1.2.840.10008.1.20.1`"
    assert commitment in conformance_markdown()
    off = Settings.model_construct(storage_commitment=False)
    assert "Off (`AXIOM_STORAGE_COMMITMENT=false`)." in conformance_markdown(off)
    assert all(str(cx.abstract_syntax) != "1.2.840.10008.1.20.1" for cx in build_ae(off).supported_contexts)
