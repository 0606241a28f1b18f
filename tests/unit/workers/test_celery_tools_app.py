"""``workers.app`` (``celery -A workers.app ...``) builds its app only when Celery asks for it, from the
settings; and the log context a task binds carries its instances' correlation ids."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from workers.log_context import correlation_ids


def test_importing_builds_nothing_and_the_app_comes_from_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AXIOM_DATA_DIR", str(tmp_path / "data"))
    module = importlib.reload(importlib.import_module("workers.app"))
    assert "app" not in vars(module)  # nothing built at import
    app = module.app
    assert module.celery is app and app.main == "axiom"
    assert app.conf.axiom_settings.data_path == (tmp_path / "data").resolve()
    with pytest.raises(AttributeError):
        _ = module.something_else


def test_correlation_ids_of_one_message_or_a_batch() -> None:
    one = {"sop_instance_uid": "1.2", "correlation_id": "abc"}
    assert correlation_ids([one]) == ["abc"]
    assert correlation_ids(([one, {"correlation_id": "def"}, {"sop_instance_uid": "3"}],)) == ["abc", "def"]
    assert correlation_ids(["source-name"]) == [] and correlation_ids(None) == []
