"""The watermark logic: pause under low, resume only above high (no flapping in between)."""

from __future__ import annotations

from pathlib import Path

import pytest

from axiom.dicom.disk_room import DiskRoom


def test_hysteresis_between_the_watermarks(tmp_path: Path) -> None:
    free = [100]
    room = DiskRoom(tmp_path, low_bytes=50, high_bytes=80, check_every=0, free_bytes=lambda _: free[0])
    readings = []
    for value in (100, 60, 49, 60, 79, 80, 60, 49):
        free[0] = value
        readings.append(room.has_room())
    assert readings == [True, True, False, False, False, True, True, False]
    assert room.describe().startswith("paused: 49 bytes free")


def test_high_under_low_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        DiskRoom(tmp_path, low_bytes=10, high_bytes=5)
