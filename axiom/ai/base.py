"""What every image model runtime provides: batched scores for preprocessed inputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

import numpy as np

from axiom.ai.manifest import Manifest


class ModelLoadError(RuntimeError):
    """A model file its runtime cannot load (missing, corrupt, not a model): the message names the
    model, the file and the runtime's reason."""


@dataclass(frozen=True)
class Finding:
    """One instance's result: the top label and every label's score (probabilities)."""

    label: str
    scores: dict[str, float]

    @property
    def score(self) -> float:
        return self.scores[self.label]


M = TypeVar("M", bound=Manifest)


class ImageModel(ABC, Generic[M]):
    """A loaded model. ``provider`` names where it runs (e.g. CUDAExecutionProvider, CPUExecutionProvider).

    Generic over its manifest model (``config_model``: ``Manifest`` or a runtime's subclass with
    settings of its own), which the registry validates the manifest with. A runtime loads the model
    file when built and raises ``ModelLoadError`` when it cannot."""

    config_model: ClassVar[type[Manifest]] = Manifest

    def __init__(self, manifest: M, folder: Path) -> None:
        if not isinstance(manifest, self.config_model):
            raise TypeError(f"{type(self).__name__} takes a {self.config_model.__name__}")
        self.manifest: M = manifest
        self.folder = folder

    @property
    @abstractmethod
    def provider(self) -> str:
        """The execution provider the model runs on."""

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Scores for a float32 batch shaped (N, channels, rows, columns): (N, len(labels)), rows sum to 1."""

    def findings(self, batch: np.ndarray) -> list[Finding]:
        scores = self.predict(batch)
        labels = self.manifest.labels
        if scores.ndim != 2 or scores.shape[1] != len(labels):
            raise ValueError(f"model output shape {scores.shape} does not fit {len(labels)} labels")
        out = []
        for row in scores:
            named = {label: float(value) for label, value in zip(labels, row, strict=True)}
            out.append(Finding(label=labels[int(np.argmax(row))], scores=named))
        return out
