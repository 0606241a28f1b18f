"""Atomic file writes: readers see the old file or the complete new one, never a partial file.

The bytes go to a temporary file in the target's own folder (``os.replace`` is atomic only within one
filesystem), which is flushed, fsynced and renamed over the target; then the folder is fsynced so the
rename itself survives a power cut. Temporary names start with ``.`` and end with ``.tmp`` so folder
scanners (the spool recovery, the filesystem destination's consumers) can skip them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
# Random names collide with negligible odds; the bound only stops a broken RNG from looping forever.
_NAME_ATTEMPTS = 8


def is_temp_name(name: str) -> bool:
    """True for the names ``atomic_write`` uses for its temporary files."""
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def fsync_dir(directory: Path) -> None:
    """Persist a folder's entries (a rename or a new file name), not only the files' contents."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path, *, fsync: bool = True) -> None:
    """Create ``directory`` and missing parents; with ``fsync`` each new entry is made durable too."""
    missing: list[Path] = []
    current = directory
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new_dir in reversed(missing):
        # Another writer may create the same folder at the same moment: that is fine.
        with suppress(FileExistsError):
            new_dir.mkdir()
        if fsync:
            fsync_dir(new_dir.parent)


def _temp_name(directory: Path, target_name: str) -> Path:
    # Keep the name short: the target name may already be near the 255-byte limit.
    return directory / f"{TEMP_PREFIX}{target_name[:64]}.{secrets.token_hex(8)}{TEMP_SUFFIX}"


def _open_temp(directory: Path, target_name: str) -> tuple[int, Path]:
    for _ in range(_NAME_ATTEMPTS):
        temp = _temp_name(directory, target_name)
        try:
            # 0o666 lets the process umask decide the final mode, as a plain open() would.
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        return fd, temp
    raise FileExistsError(f"no free temporary name in {directory}")


def atomic_write(
    path: Path, chunks: Iterable[bytes | memoryview], *, fsync: bool = True, fsync_folder: bool = True
) -> int:
    """Write ``chunks`` to ``path`` atomically and return the number of bytes written.

    The folder must exist. On any error (including one raised by the ``chunks`` iterator) the
    temporary file is removed, an existing ``path`` keeps its old content, and the error propagates.
    ``fsync=False`` skips both fsyncs: still atomic for other readers, but not durable across a crash.
    ``fsync_folder=False`` leaves the folder's fsync to the caller (one per folder for a batch).
    """
    path = Path(path)
    directory = path.parent
    fd, temp = _open_temp(directory, path.name)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                view = memoryview(chunk)
                out.write(view)
                written += view.nbytes
            out.flush()
            if fsync:
                os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if fsync and fsync_folder:
        fsync_dir(directory)
    return written


def atomic_link(source: Path, path: Path, *, fsync_folder: bool = True) -> int:
    """Give the existing, already durable file ``source`` a second name ``path`` atomically (a hard
    link to a temporary name, renamed over the target); return its size.

    No byte is copied and no data fsync is needed: the caller vouches that ``source`` was fsynced.
    Raises OSError (EXDEV, EPERM, ENOTSUP...) where the folders are on different filesystems or the
    filesystem has no hard links: the caller copies instead.
    """
    path = Path(path)
    directory = path.parent
    for _ in range(_NAME_ATTEMPTS):
        temp = _temp_name(directory, path.name)
        try:
            os.link(source, temp)
        except FileExistsError:
            continue
        break
    else:
        raise FileExistsError(f"no free temporary name in {directory}")
    try:
        os.replace(temp, path)
    finally:
        # rename(2) does nothing when both names are links to one file (the same instance linked
        # again): the temporary name would stay behind.
        with suppress(FileNotFoundError):
            os.unlink(temp)
    if fsync_folder:
        fsync_dir(directory)
    return os.stat(path).st_size
