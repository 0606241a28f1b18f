"""Model runtimes by registry: a short alias (a manifest's ``runtime``) maps to a lazy ``module:Class``;
third parties add runtimes through the ``axiom.ai.runtimes`` entry-point group. A manifest is
validated in two steps, as destinations are: the shared fields, then the runtime's ``config_model``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from axiom.ai.base import Finding, ImageModel, ModelLoadError
from axiom.ai.manifest import Manifest, read_manifest
from axiom.plugins import PluginRegistry

RUNTIMES: dict[str, str] = {
    "onnx": "axiom.ai.onnx_runtime:OnnxModel",
}

ENTRY_POINT_GROUP = "axiom.ai.runtimes"


class UnknownRuntime(LookupError):
    pass


REGISTRY: PluginRegistry[ImageModel[Any]] = PluginRegistry(
    "model runtime", ImageModel, RUNTIMES, ENTRY_POINT_GROUP, UnknownRuntime, Manifest, kind_field="runtime"
)
available_runtimes = REGISTRY.available
resolve_runtime = REGISTRY.resolve


def load_manifest(folder: Path) -> Manifest:
    """The manifest in ``folder``, validated by its runtime's own model (pydantic's ValidationError,
    with the registry's "did you mean" for an unknown runtime)."""
    return cast(Manifest, REGISTRY.validate_config(read_manifest(folder)))


__all__ = [
    "REGISTRY",
    "RUNTIMES",
    "Finding",
    "ImageModel",
    "ModelLoadError",
    "UnknownRuntime",
    "available_runtimes",
    "load_manifest",
    "resolve_runtime",
]
