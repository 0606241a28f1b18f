"""The manifest beside each model file: what the model expects and what its outputs mean.

``<models_dir>/<name>/<version>/manifest.yaml`` next to ``model.onnx``::

    runtime: onnx            # the registry alias of the runtime that loads the file
    input: {size: [64, 64], channels: 1}
    window: {center: 40, width: 400}   # optional; else the dataset's VOI window, else min-max
    normalize: {mean: 0.0, std: 1.0}   # applied after windowing scales to 0..1
    labels: [normal, pneumonia]        # one per output score, in order
    modalities: [CR, DX]               # accepted; empty accepts every modality
    sop_classes: []                    # accepted SOP Class UIDs; empty accepts every class
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Model):
    size: tuple[int, int] = Field(description="rows, columns the model takes")
    channels: int = Field(default=1, ge=1, le=4)

    @model_validator(mode="after")
    def _positive(self) -> InputSpec:
        if min(self.size) < 1:
            raise ValueError("input size must be positive")
        return self


class Window(_Model):
    center: float
    width: float = Field(gt=0)


class Normalize(_Model):
    mean: float = 0.0
    std: float = Field(default=1.0, gt=0)


class Manifest(_Model):
    name: str
    version: str
    # The registry alias of the runtime; a runtime with settings of its own subclasses this model
    # (its ``config_model``) and the registry validates the manifest with it.
    runtime: str = "onnx"
    input: InputSpec
    window: Window | None = None
    normalize: Normalize = Normalize()
    labels: list[str] = Field(min_length=1)
    modalities: list[str] = Field(default_factory=list)
    sop_classes: list[str] = Field(default_factory=list)
    file: str = "model.onnx"

    def accepts(self, modality: str, sop_class_uid: str) -> bool:
        """Whether an instance of this modality and SOP class is something the model was made for."""
        if self.modalities and modality not in self.modalities:
            return False
        return not self.sop_classes or sop_class_uid in self.sop_classes

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """This model alone (``axiom.ai.load_manifest`` asks the runtime's own model)."""
        return cls.model_validate(read_manifest(folder))


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest's fields as written, with ``name`` and ``version`` from the folder by default."""
    data = yaml.safe_load((folder / "manifest.yaml").read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{folder.name}/manifest.yaml must be a mapping")
    data.setdefault("name", folder.parent.name)
    data.setdefault("version", folder.name)
    return data
