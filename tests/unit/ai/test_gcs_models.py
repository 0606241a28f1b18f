"""Models from a GCS bucket through the real google-cloud-storage client against a local fake."""

from __future__ import annotations

from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from axiom.ai.registry import ModelRegistry
from tests.support.fake_gcs import FakeGCS
from tests.support.onnx_models import write_model


def _bucket_objects(tmp_path: Path) -> dict[str, bytes]:
    source = tmp_path / "published"
    for version in ("1", "2"):
        write_model(source, "chest", version)
    return {
        f"models/{p.relative_to(source).as_posix()}": p.read_bytes() for p in source.rglob("*") if p.is_file()
    }


@pytest.fixture
def gcs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeGCS:
    with FakeGCS("site-models", _bucket_objects(tmp_path)) as server:
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", server.endpoint)
        yield server  # type: ignore[misc]


def test_versions_are_copied_once_and_load_from_the_local_folder(gcs: FakeGCS, tmp_path: Path) -> None:
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    root = tmp_path / "models"
    registry = ModelRegistry(root, "gs://site-models/models", client)
    assert registry.resolve("chest") == ("chest", "2")
    assert registry.get("chest").provider == "CPUExecutionProvider"
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "chest/1/manifest.yaml",
        "chest/1/model.onnx",
        "chest/2/manifest.yaml",
        "chest/2/model.onnx",
    ]
    downloads = len(gcs.downloads)
    # A new registry (a restarted worker) finds the versions present and downloads nothing.
    again = ModelRegistry(root, "gs://site-models/models", client)
    assert again.resolve("chest", "1") == ("chest", "1")
    assert len(gcs.downloads) == downloads
