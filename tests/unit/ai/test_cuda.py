"""The CUDA path, on a machine with a GPU and onnxruntime-gpu (the `gpu` extra).

Skipped where onnxruntime offers no CUDA provider (CI here has no GPU); ``AXIOM_REQUIRE_GPU=1`` turns
the skip into a failure, so a GPU check cannot pass by skipping (scripts/gpu-check.sh sets it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from axiom.ai.onnx_runtime import OnnxModel
from axiom.ai.registry import ModelRegistry
from tests.support.onnx_models import write_model

ort = pytest.importorskip("onnxruntime")


def _cuda_offered() -> bool:
    if "CUDAExecutionProvider" in ort.get_available_providers():
        return True
    if os.environ.get("AXIOM_REQUIRE_GPU") == "1":
        pytest.fail(f"AXIOM_REQUIRE_GPU=1 but onnxruntime offers {ort.get_available_providers()}")
    return False


@pytest.fixture
def model_root(tmp_path: Path) -> Path:
    if not _cuda_offered():
        pytest.skip("onnxruntime offers no CUDAExecutionProvider (no GPU or no `gpu` extra)")
    write_model(tmp_path, "bench", "1", size=128, hidden=16, layers=3)
    return tmp_path


def test_the_registry_loads_the_model_on_the_gpu_and_reports_it(model_root: Path) -> None:
    registry = ModelRegistry(model_root)
    model = registry.get("bench", "1")
    # onnxruntime silently drops a provider that fails to initialise: this is the one in use.
    assert model.provider in ("TensorrtExecutionProvider", "CUDAExecutionProvider")
    assert registry.providers() == {"bench:1": model.provider}


def test_gpu_and_cpu_give_the_same_scores_for_a_batch(model_root: Path) -> None:
    manifest = ModelRegistry(model_root).manifest("bench")
    folder = model_root / "bench" / "1"
    gpu = OnnxModel(manifest, folder, providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    cpu = OnnxModel(manifest, folder, providers=["CPUExecutionProvider"])
    assert gpu.provider == "CUDAExecutionProvider"
    batch = np.random.default_rng(0).random((32, 1, 128, 128), dtype=np.float32)
    np.testing.assert_allclose(gpu.predict(batch), cpu.predict(batch), atol=1e-3)
