"""Beat's liveness: the scheduler touches a file on every tick; a probe checks that it is recent.

``python -m beat.heartbeat --max-age 120`` exits 0 when the heartbeat under the data dir
(``AXIOM_DATA_DIR``) is at most that many seconds old, 1 otherwise: the beat container's liveness
probe (Helm chart, docker-compose.yml). A beat stuck on its database or broker stops ticking, so the
probe restarts it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

FILENAME = "beat-heartbeat"


def heartbeat_path(data_path: Path) -> Path:
    return data_path / FILENAME


def touch(path: Path) -> None:
    with contextlib.suppress(OSError):  # a full or read-only volume: the probe will say so
        path.touch()


def age(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last beat; None when there was none."""
    try:
        return (time.time() if now is None else now) - os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m beat.heartbeat", description=__doc__)
    parser.add_argument("--max-age", type=float, default=120.0, help="seconds (default 120)")
    args = parser.parse_args(argv)
    from axiom.config import get_settings

    seconds = age(heartbeat_path(get_settings().data_path))
    if seconds is None or seconds > args.max_age:
        print(f"beat heartbeat {'missing' if seconds is None else f'{seconds:.0f}s old'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
