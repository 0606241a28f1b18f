"""The model registry: manifests, versions, one load per process, the provider in use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from axiom.ai import UnknownRuntime, resolve_runtime
from axiom.ai.manifest import Manifest
from axiom.ai.onnx_runtime import OnnxModel, choose_providers
from axiom.ai.registry import ModelRegistry, UnknownModel, process_registry
from tests.support.onnx_models import write_model


def test_latest_version_is_the_default_and_versions_sort_numerically(models_dir: Path) -> None:
    write_model(models_dir, "chest", "10")
    registry = ModelRegistry(models_dir)
    assert registry.versions("chest") == ["1", "2", "10"]
    assert registry.resolve("chest") == ("chest", "10")
    assert registry.resolve("chest", "2") == ("chest", "2")


def test_unknown_names_and_versions_fail_with_a_hint(models_dir: Path) -> None:
    registry = ModelRegistry(models_dir)
    with pytest.raises(UnknownModel, match="did you mean 'chest'"):
        registry.resolve("chst")
    with pytest.raises(UnknownModel, match="no version '7'"):
        registry.resolve("chest", "7")


def test_a_model_is_loaded_once_and_reports_its_provider(models_dir: Path) -> None:
    registry = ModelRegistry(models_dir)
    model = registry.get("chest")
    assert registry.get("chest", "2") is model
    assert isinstance(model, OnnxModel)
    # No GPU here: onnxruntime falls back to the CPU provider, and the registry says so.
    assert registry.providers() == {"chest:2": "CPUExecutionProvider"}
    assert process_registry(models_dir) is process_registry(models_dir)


def test_manifest_is_read_with_defaults_from_the_folder(models_dir: Path) -> None:
    manifest = Manifest.load(models_dir / "chest" / "1")
    assert (manifest.name, manifest.version, manifest.input.size) == ("chest", "1", (64, 64))
    assert manifest.labels == ["normal", "pneumonia"]
    assert manifest.accepts("CT", "1.2.840.10008.5.1.4.1.1.2")
    assert not manifest.accepts("MR", "1.2.840.10008.5.1.4.1.1.4")


def test_a_bad_manifest_fails_when_loaded(tmp_path: Path) -> None:
    folder = write_model(tmp_path, "bad", "1", manifest={"labels": []})
    with pytest.raises(ValidationError):
        Manifest.load(folder)


def test_providers_prefer_tensorrt_then_cuda_and_always_keep_cpu() -> None:
    everything = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(everything) == everything[::-1]
    assert choose_providers(["CUDAExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]


def test_unknown_runtime_suggests_the_close_one() -> None:
    with pytest.raises(UnknownRuntime, match="did you mean 'onnx'"):
        resolve_runtime("onxx")


def test_batched_scores_equal_one_at_a_time(models_dir: Path) -> None:
    model = ModelRegistry(models_dir).get("chest")
    batch = np.random.default_rng(1).random((5, 1, 64, 64), dtype=np.float32)
    together = model.predict(batch)
    alone = np.concatenate([model.predict(batch[i : i + 1]) for i in range(5)])
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, rtol=1e-5)
