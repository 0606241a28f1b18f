"""Model runtimes by registry: a short alias (a manifest's ``runtime``) maps to a lazy ``module:Class``;
third parties add runtimes through the ``axiom.ai.runtimes`` entry-point group."""

from __future__ import annotations

from axiom.ai.base import Finding, ImageModel
from axiom.plugins import PluginRegistry

RUNTIMES: dict[str, str] = {
    "onnx": "axiom.ai.onnx_runtime:OnnxModel",
}

ENTRY_POINT_GROUP = "axiom.ai.runtimes"


class UnknownRuntime(LookupError):
    pass


_REGISTRY: PluginRegistry[ImageModel] = PluginRegistry(
    "model runtime", ImageModel, RUNTIMES, ENTRY_POINT_GROUP, UnknownRuntime
)
available_runtimes = _REGISTRY.available
resolve_runtime = _REGISTRY.resolve


__all__ = ["RUNTIMES", "Finding", "ImageModel", "UnknownRuntime", "available_runtimes", "resolve_runtime"]
