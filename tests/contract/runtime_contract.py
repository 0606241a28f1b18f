"""The contract every AI model runtime passes, each running its real engine.

``RuntimeContract`` holds the tests; a subclass per runtime (``test_runtimes.py``: ONNX Runtime on
the CPU provider, with the tiny classifiers of ``tests/support/onnx_models.py``) supplies
``write_model`` (a registry entry ``<root>/<name>/<version>`` with its manifest and model file),
``input_shape`` and ``labelled_batch`` (inputs whose label the test knows from the data it made).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import ValidationError

from axiom.ai import REGISTRY, ImageModel, ModelLoadError, UnknownRuntime, load_manifest, resolve_runtime
from axiom.ai.registry import ModelRegistry


class RuntimeContract:
    """Mixin: every model runtime's test class inherits these tests."""

    kind: ClassVar[str]

    # Hooks a subclass provides ------------------------------------------------------------------

    def write_model(self, root: Path, name: str, version: str, **manifest: Any) -> Path:
        """A registry entry for this runtime; ``manifest`` overrides fields of its manifest."""
        raise NotImplementedError

    def input_shape(self) -> tuple[int, ...]:
        """One instance's input, as the entry's manifest describes it: (channels, rows, columns)."""
        raise NotImplementedError

    def labelled_batch(self) -> tuple[np.ndarray, list[str]]:
        """A batch and the label the model must give each of its inputs."""
        raise NotImplementedError

    # The contract -------------------------------------------------------------------------------

    @pytest.fixture
    def models(self, tmp_path: Path) -> Path:
        root = tmp_path / "models"
        self.write_model(root, "chest", "1")
        return root

    def test_registry_resolves_the_runtime_and_validates_its_manifest(self, models: Path) -> None:
        runtime = resolve_runtime(self.kind)
        assert issubclass(runtime, ImageModel)
        assert REGISTRY.config_model(self.kind) is runtime.config_model
        manifest = load_manifest(models / "chest" / "1")
        assert type(manifest) is runtime.config_model
        assert (manifest.runtime, manifest.name, manifest.version) == (self.kind, "chest", "1")

        bad = self.write_model(models, "bad", "1", labels=[])
        with pytest.raises(ValidationError, match="labels"):
            load_manifest(bad)
        # A near-miss runtime is refused by the registry with a suggestion.
        with pytest.raises(UnknownRuntime, match=f"did you mean '{self.kind}'"):
            resolve_runtime(self.kind + "x")
        near = self.write_model(models, "near", "1", runtime=self.kind + "x")
        with pytest.raises(ValidationError, match=f"did you mean '{self.kind}'"):
            load_manifest(near)

    def test_loads_from_its_manifest_and_runs_a_batch(self, models: Path) -> None:
        model = ModelRegistry(models).get("chest")
        assert type(model) is resolve_runtime(self.kind)
        assert model.provider and isinstance(model.provider, str)
        labels = model.manifest.labels

        batch = np.random.default_rng(1).random((5, *self.input_shape()), dtype=np.float32)
        together = model.predict(batch)
        assert together.shape == (5, len(labels))
        np.testing.assert_allclose(together.sum(axis=1), 1.0, rtol=1e-5)
        # A batch scores each input as it would alone.
        alone = np.concatenate([model.predict(batch[i : i + 1]) for i in range(5)])
        np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)

    def test_findings_name_the_manifest_labels(self, models: Path) -> None:
        model = ModelRegistry(models).get("chest")
        batch, expected = self.labelled_batch()

        findings = model.findings(batch)

        assert [f.label for f in findings] == expected
        for finding in findings:
            assert list(finding.scores) == model.manifest.labels
            assert finding.score == max(finding.scores.values())
            assert sum(finding.scores.values()) == pytest.approx(1.0, abs=1e-5)

    def test_output_that_does_not_fit_the_labels_is_refused(self, models: Path) -> None:
        self.write_model(models, "mislabelled", "1", labels=["a", "b", "c"])
        model = ModelRegistry(models).get("mislabelled")
        batch, _ = self.labelled_batch()
        with pytest.raises(ValueError, match="does not fit 3 labels"):
            model.findings(batch)

    @pytest.mark.parametrize("damage", ["garbage", "empty", "missing"])
    def test_a_bad_model_file_is_refused_with_a_clear_error(self, models: Path, damage: str) -> None:
        folder = models / "chest" / "1"
        model_file = folder / load_manifest(folder).file
        if damage == "missing":
            model_file.unlink()
        else:
            model_file.write_bytes(b"" if damage == "empty" else b"\x08\x07not a model\x00" * 64)

        with pytest.raises(ModelLoadError) as caught:
            ModelRegistry(models).get("chest")

        message = str(caught.value)
        assert "chest:1" in message and str(model_file) in message
        # Nothing half-loaded stays behind: the repaired file loads.
        self.write_model(models, "chest", "1")
        repaired = ModelRegistry(models).get("chest")
        scores = repaired.predict(np.zeros((1, *self.input_shape()), dtype=np.float32))
        assert scores.shape == (1, len(repaired.manifest.labels))
