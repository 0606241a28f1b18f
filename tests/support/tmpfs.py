"""A tiny tmpfs, to make the kernel answer ENOSPC for real (needs root with CAP_SYS_ADMIN)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(mountpoint: Path, size_kib: int = 128) -> Iterator[Path]:
    """Mount a ``size_kib`` tmpfs at ``mountpoint`` for the block; skip the test if mounting is not allowed."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        # A capability of the machine, not a service: skip rather than fail, CI included.
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip() or result.returncode}")
    try:
        yield mountpoint
    finally:
        # Lazy unmount: still detaches if a test left a file open there.
        subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, check=False)
