"""The model runtime contract (``runtime_contract.py``) for the built-in runtime: ONNX Runtime, on
whichever provider this machine offers (CPU here), with the tiny brightness classifier."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.contract.runtime_contract import RuntimeContract
from tests.support.onnx_models import LABELS, write_model

SIZE = 32


class TestOnnxRuntimeContract(RuntimeContract):
    kind = "onnx"

    def write_model(self, root: Path, name: str, version: str, **manifest: Any) -> Path:
        return write_model(root, name, version, size=SIZE, manifest=manifest)

    def input_shape(self) -> tuple[int, ...]:
        return (1, SIZE, SIZE)

    def labelled_batch(self) -> tuple[np.ndarray, list[str]]:
        # The classifier reads a mostly bright image as "pneumonia", a dark one as "normal".
        batch = np.zeros((3, *self.input_shape()), dtype=np.float32)
        batch[1] = 1.0
        batch[2, :, : SIZE // 4] = 1.0
        return batch, [LABELS[0], LABELS[1], LABELS[0]]
