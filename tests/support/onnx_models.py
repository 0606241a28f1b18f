"""Tiny ONNX image classifiers built with the `onnx` package, so tests run the real runtime on CPU.

``brightness`` model: a 3x3 averaging convolution, global average pool and a linear layer whose two
logits are ``+-gain*(mean - 0.5)``, then softmax. Its ``pneumonia`` score is high exactly when the
windowed image is mostly bright, so a test decides the label by the pixel data it sends.
``build_classifier(hidden=..., layers=...)`` grows the same shape into a model big enough to
benchmark batching; ``pyramid=True`` gives it the shape of the usual image classifiers (each layer
after the first halves the resolution with stride 2 and doubles the channels, as ResNet stages do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import yaml
from onnx import TensorProto, helper, numpy_helper

LABELS = ["normal", "pneumonia"]


def build_classifier(
    path: Path,
    *,
    size: int = 64,
    channels: int = 1,
    hidden: int = 4,
    layers: int = 1,
    labels: int = 2,
    gain: float = 20.0,
    seed: int = 0,
    pyramid: bool = False,
) -> Path:
    """Write ``model.onnx``: input ``image`` (N, channels, size, size), output ``scores`` (N, labels)."""
    rng = np.random.default_rng(seed)
    nodes, inits = [], []
    current, width = "image", channels
    for index in range(layers):
        out = hidden * 2**index if pyramid else hidden
        stride = 2 if pyramid and index > 0 else 1
        if index == 0 and layers == 1:
            # Averaging kernel: each output channel is the local mean brightness.
            weight = np.full((out, width, 3, 3), 1.0 / (9 * width), dtype=np.float32)
        else:
            # He-style scale keeps activations bounded through a deep pyramid.
            scale = np.sqrt(2.0 / (9 * width)) if pyramid else 0.1
            weight = (rng.standard_normal((out, width, 3, 3)) * scale).astype(np.float32)
            if index == 0:
                weight += 1.0 / (9 * width)
        inits += [
            numpy_helper.from_array(weight, f"w{index}"),
            numpy_helper.from_array(np.zeros(out, dtype=np.float32), f"b{index}"),
        ]
        conv = helper.make_node(
            "Conv",
            [current, f"w{index}", f"b{index}"],
            [f"c{index}"],
            kernel_shape=[3, 3],
            pads=[1, 1, 1, 1],
            strides=[stride, stride],
        )
        nodes += [conv, helper.make_node("Relu", [f"c{index}"], [f"r{index}"])]
        current, width = f"r{index}", out
    nodes += [
        helper.make_node("GlobalAveragePool", [current], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
    ]
    fc = np.zeros((labels, width), dtype=np.float32)
    fc_bias = np.zeros(labels, dtype=np.float32)
    fc[0, :] = -2 * gain / width
    fc[1, :] = 2 * gain / width
    fc_bias[0], fc_bias[1] = gain, -gain
    inits += [numpy_helper.from_array(fc, "fc_w"), numpy_helper.from_array(fc_bias, "fc_b")]
    nodes += [
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "axiom-test-classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", channels, size, size])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", labels])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def write_model(
    root: Path,
    name: str = "chest",
    version: str = "1",
    *,
    manifest: dict[str, Any] | None = None,
    **build: Any,
) -> Path:
    """A registry entry ``root/name/version`` with the model and its manifest; returns the folder."""
    folder = root / name / version
    size = build.get("size", 64)
    build_classifier(folder / "model.onnx", **build)
    data: dict[str, Any] = {
        "runtime": "onnx",
        "input": {"size": [size, size], "channels": build.get("channels", 1)},
        # CT phantoms of tests/factories (pixels 0..4095, intercept -1024) map to 0..1.
        "window": {"center": 1024, "width": 4096},
        "labels": LABELS[: build.get("labels", 2)]
        if build.get("labels", 2) <= 2
        else [f"class{i}" for i in range(build["labels"])],
        "modalities": ["CT"],
    }
    data.update(manifest or {})
    (folder / "manifest.yaml").write_text(yaml.safe_dump(data))
    return folder
