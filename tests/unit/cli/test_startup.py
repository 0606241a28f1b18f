"""A light command starts fast because its imports are lazy: ``axiom --help`` and a remote
``axiom get rules`` load neither the settings, the database layer, rich nor an HTTP library beyond the
standard one (measured: about 0.15 s and 0.28 s wall with ``farm-bench``; docs/performance.md)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("sqlalchemy", "pydantic_settings", "axiom.config", "axiom.db", "rich", "httpx", "celery", "pydicom")


def imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "cli.main", *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s*(\S+)$", result.stderr, re.MULTILINE))


@pytest.mark.parametrize(
    "args", [("--help",), ("get", "rules"), ("--version",)], ids=["help", "remote get rules", "version"]
)
def test_light_commands_import_nothing_heavy(args: tuple[str, ...]) -> None:
    # A refused port: the command fails fast, after its imports, without a server.
    modules = imported(*args, env={"AXIOM_URL": "http://127.0.0.1:1", "AXIOM_API_KEY": "axk_x_y"})
    assert "cli.context" in modules  # the command ran
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY or m.startswith(HEAVY))
    assert loaded == [], loaded


def test_the_check_sees_a_heavy_import(tmp_path: Path) -> None:
    local = imported("get", "rules", env={"AXIOM_URL": "", "AXIOM_DATA_DIR": str(tmp_path)})  # the database
    assert {"sqlalchemy", "axiom.config"} <= local
