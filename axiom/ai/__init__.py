"""Model runtimes by registry: a short alias (a manifest's ``runtime``) maps to a lazy ``module:Class``;
third parties add runtimes through the ``axiom.ai.runtimes`` entry-point group."""

from __future__ import annotations

import difflib
from importlib import import_module
from importlib.metadata import entry_points

from axiom.ai.base import Finding, ImageModel

RUNTIMES: dict[str, str] = {
    "onnx": "axiom.ai.onnx_runtime:OnnxModel",
}

ENTRY_POINT_GROUP = "axiom.ai.runtimes"


class UnknownRuntime(LookupError):
    pass


def available_runtimes() -> dict[str, str]:
    kinds = dict(RUNTIMES)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        kinds.setdefault(ep.name, ep.value)
    return kinds


def resolve_runtime(kind: str) -> type[ImageModel]:
    kinds = available_runtimes()
    try:
        target = kinds[kind]
    except KeyError:
        close = difflib.get_close_matches(kind, kinds, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(sorted(kinds))}"
        raise UnknownRuntime(f"unknown model runtime {kind!r}{hint}") from None
    module_name, _, attr = target.partition(":")
    cls = getattr(import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, ImageModel)):
        raise TypeError(f"{target} is not an ImageModel subclass")
    return cls


__all__ = ["RUNTIMES", "Finding", "ImageModel", "UnknownRuntime", "available_runtimes", "resolve_runtime"]
