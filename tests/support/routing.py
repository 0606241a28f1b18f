"""Driving the worker's services in-process: a Runtime on a fresh SQLite data dir, a config applied
from a dict, an instance spooled and routed as the listener and a worker would."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from axiom.admin.apply_config import apply_config, load_config_file
from axiom.config import Settings
from axiom.db.session import upgrade_database
from axiom.pipeline.runtime import Runtime


@contextmanager
def fresh_runtime(data_dir: Path, **settings: Any) -> Iterator[Runtime]:
    config = Settings(data_dir=data_dir, spool_fsync=False, config_check_seconds=0, **settings)
    config.ensure_dirs()
    upgrade_database(config.effective_database_url)
    runtime = Runtime(config)
    try:
        yield runtime
    finally:
        runtime.close()


def apply_dict(runtime: Runtime, config: dict[str, Any], folder: Path) -> None:
    """``axiom apply`` of ``config`` (written to a YAML file first, as an admin would)."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with runtime.sessions() as session:
        apply_config(session, load_config_file(path), actor="test")
        session.commit()
    runtime.settings.config_check_seconds = 0
