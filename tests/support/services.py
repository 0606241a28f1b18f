"""Checks for the real services and binaries the tests use.

Locally a missing service skips the test with the reason; in CI (``CI=true``) it fails it, so a
broken CI machine can never turn into a green run that tested nothing.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def require(name: str, ok: bool, why: str) -> None:
    """Skip (or, in CI, fail) the current test unless ``ok``; ``why`` says what is missing."""
    if ok:
        return
    message = f"{name} unavailable: {why}"
    if in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def require_binary(path_or_name: str) -> str:
    """Return the binary's path, or skip/fail when it is not installed."""
    found = path_or_name if Path(path_or_name).is_file() else shutil.which(path_or_name)
    require(path_or_name, bool(found) and os.access(str(found), os.X_OK), "binary not installed")
    return str(found)


def tcp_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
