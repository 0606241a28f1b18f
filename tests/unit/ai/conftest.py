from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.onnx_models import write_model


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A registry folder holding ``chest`` versions 1 and 2 (the tiny brightness classifier)."""
    root = tmp_path / "models"
    write_model(root, "chest", "1")
    write_model(root, "chest", "2")
    return root


# The one local Redis fixture (database 9, emptied around the test), shared with the services tests.
from tests.unit.conftest import redis_url  # noqa: E402, F401
