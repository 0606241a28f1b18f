"""Models by name and version from a folder: ``<root>/<name>/<version>/{manifest.yaml,model.onnx}``.

A registry is kept per worker process (``process_registry``); each model is loaded on first use and
kept, so a worker pays the load (and the GPU memory) once. ``providers()`` says where each loaded
model runs, for /ready and metrics.
"""

from __future__ import annotations

import difflib
import os
import threading
from pathlib import Path
from typing import Any

import structlog

from axiom import metrics
from axiom.ai import load_manifest, resolve_runtime
from axiom.ai.base import ImageModel
from axiom.ai.manifest import Manifest

log = structlog.get_logger("axiom.ai")


class UnknownModel(LookupError):
    pass


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    # "10" sorts after "9"; non-numeric parts compare as text.
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.replace("-", ".").split("."))


class ModelRegistry:
    """``source``: a ``gs://bucket/prefix`` to copy models from into ``root`` (axiom.ai.gcs), at the
    first look-up and again when a name is not found locally."""

    def __init__(self, root: Path, source: str = "", client: Any = None) -> None:
        self.root = root
        self.source = source
        self._client = client
        self._synced = False
        self._sync_lock = threading.Lock()
        self._loaded: dict[tuple[str, str], ImageModel[Any]] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and self.versions(p.name))

    def versions(self, name: str) -> list[str]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if (p / "manifest.yaml").is_file()]
        return sorted(found, key=_version_key)

    def resolve(self, name: str, version: str | None = None) -> tuple[str, str]:
        """(name, version): the latest version when none is given; unknown names fail with a hint."""
        versions = self.versions(name)
        if self.source and (not self._synced or not versions or (version and version not in versions)):
            self._sync(name)
            versions = self.versions(name)
        if not versions:
            close = difflib.get_close_matches(name, self.names(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UnknownModel(f"no model {name!r} under {self.root}{hint}")
        if version is None:
            return name, versions[-1]
        if version not in versions:
            raise UnknownModel(f"model {name!r} has no version {version!r} (has {', '.join(versions)})")
        return name, version

    def _sync(self, name: str) -> None:
        from axiom.ai.gcs import sync_models

        with self._sync_lock:
            # The first time everything under the source; later only the name asked for.
            sync_models(self.source, self.root, self._client, name if self._synced else None)
            self._synced = True

    def manifest(self, name: str, version: str | None = None) -> Manifest:
        name, version = self.resolve(name, version)
        return load_manifest(self.root / name / version)

    def get(self, name: str, version: str | None = None) -> ImageModel[Any]:
        key = self.resolve(name, version)
        with self._lock:
            model = self._loaded.get(key)
            if model is None:
                folder = self.root / key[0] / key[1]
                manifest = load_manifest(folder)
                model = self._loaded[key] = resolve_runtime(manifest.runtime)(manifest, folder)
                log.info("model loaded", model=key[0], version=key[1], provider=model.provider)
                metrics.MODEL_LOADED.labels(key[0], key[1], model.provider).set(1)
            return model

    def providers(self) -> dict[str, str]:
        """``name:version`` -> execution provider, for every model this process has loaded."""
        with self._lock:
            return {f"{n}:{v}": m.provider for (n, v), m in self._loaded.items()}


_registries: dict[tuple[int, Path], ModelRegistry] = {}
_registries_lock = threading.Lock()


def process_registry(root: Path, source: str = "") -> ModelRegistry:
    """This process's registry for ``root`` (a forked worker gets its own, never its parent's sessions)."""
    key = (os.getpid(), root.resolve())
    with _registries_lock:
        registry = _registries.get(key)
        if registry is None:
            registry = _registries[key] = ModelRegistry(root, source)
        return registry
