"""The API's and the console's Python modules stay under 400 lines (split, don't grow)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[3] / "api"


def test_api_modules_are_under_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in ROOT.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) >= 400
    }
    assert not long, long
