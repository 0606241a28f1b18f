"""ONNX Runtime: TensorRT, then CUDA when onnxruntime-gpu finds a GPU, else the CPU provider."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from axiom.ai.base import ImageModel, ModelLoadError
from axiom.ai.manifest import Manifest

# In order of preference; the first one this build of onnxruntime offers is used (CPU always last).
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


def choose_providers(available: Sequence[str]) -> list[str]:
    """The providers to ask for, best first, always ending with CPU as the fallback."""
    chosen = [p for p in PREFERRED_PROVIDERS if p in available]
    return chosen if "CPUExecutionProvider" in chosen else [*chosen, "CPUExecutionProvider"]


class OnnxModel(ImageModel[Manifest]):
    def __init__(self, manifest: Manifest, folder: Path, providers: Sequence[str] | None = None) -> None:
        super().__init__(manifest, folder)
        import onnxruntime as ort  # the `ai` (CPU) or `gpu` extra

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        wanted = list(providers) if providers else choose_providers(ort.get_available_providers())
        path = folder / manifest.file
        what = f"model {manifest.name}:{manifest.version}"
        if not path.is_file():
            raise ModelLoadError(f"{what}: no model file {path}")
        try:
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=wanted)
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelLoadError(f"{what}: {path} is not a model onnxruntime can load: {reason}") from exc
        self.input_name = self.session.get_inputs()[0].name

    @property
    def provider(self) -> str:
        # onnxruntime drops providers that failed to initialise (no GPU): this is the one in use.
        return str(self.session.get_providers()[0])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        (scores,) = self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        return np.asarray(scores)
