"""The model registry: manifests, versions, one load per process, the provider in use. What every
runtime does with a model (load, batch, labels, a bad file): ``tests/contract/test_runtimes.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

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


def test_providers_prefer_tensorrt_then_cuda_and_always_keep_cpu() -> None:
    everything = ["CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider"]
    assert choose_providers(everything) == everything[::-1]
    assert choose_providers(["CUDAExecutionProvider"]) == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(["AzureExecutionProvider", "CPUExecutionProvider"]) == ["CPUExecutionProvider"]
