from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from axiom.dicom.atomic import atomic_write, is_temp_name, make_dirs


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if is_temp_name(p.name))


def test_writes_every_chunk_and_returns_the_byte_count(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    payload: list[bytes | memoryview] = [b"DICM", memoryview(b"\x00" * 1000), b"tail", b""]

    written = atomic_write(target, payload)

    assert written == 4 + 1000 + 4
    assert target.read_bytes() == b"DICM" + b"\x00" * 1000 + b"tail"
    assert _leftovers(tmp_path) == []


def test_memoryview_of_wider_items_counts_bytes_not_items(tmp_path: Path) -> None:
    target = tmp_path / "words.bin"
    words = memoryview(bytearray(range(16))).cast("H")  # 8 items of 2 bytes

    assert atomic_write(target, [words], fsync=False) == 16
    assert target.read_bytes() == bytes(range(16))


def test_overwrites_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old content that is longer than the new one")

    atomic_write(target, [b"new"])

    assert target.read_bytes() == b"new"
    assert _leftovers(tmp_path) == []


def test_new_file_mode_follows_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    old = os.umask(0o022)
    try:
        atomic_write(target, [b"x"], fsync=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_error_from_the_chunk_source_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"previous")

    def chunks() -> Iterator[bytes]:
        yield b"partial "
        raise ValueError("source broke mid-way")

    with pytest.raises(ValueError, match="mid-way"):
        atomic_write(target, chunks())

    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_missing_folder_raises_and_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "absent" / "out.bin", [b"x"])
    assert list(tmp_path.iterdir()) == []


def test_real_write_error_from_the_kernel_leaves_no_temp_file(tmp_path: Path) -> None:
    # A child process with a 4 KiB file-size limit gets EFBIG from write(2): a genuine disk-level error
    # in the middle of the data, after the temporary file exists.
    target = tmp_path / "big.bin"
    target.write_bytes(b"previous")
    script = f"""
import errno, resource, signal, sys
from pathlib import Path
from axiom.dicom.atomic import atomic_write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
try:
    atomic_write(Path({str(target)!r}), [b"x" * 100_000])
except OSError as exc:
    sys.exit(0 if exc.errno == errno.EFBIG else 3)
sys.exit(2)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert target.read_bytes() == b"previous"
    assert _leftovers(tmp_path) == []


def test_readers_never_see_a_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    payloads = [b"A" * 200_000, b"B" * 150_000]
    atomic_write(target, [payloads[0]], fsync=False)
    seen: list[bytes] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(target.read_bytes())

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(200):
            atomic_write(target, [payloads[i % 2]], fsync=False)
    finally:
        stop.set()
        thread.join()

    assert seen
    assert all(data in payloads for data in seen)


def test_make_dirs_creates_missing_parents_and_tolerates_existing(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "c"
    make_dirs(deep)
    make_dirs(deep)
    assert deep.is_dir()


def test_make_dirs_through_a_file_fails(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(OSError) as info:
        make_dirs(tmp_path / "file" / "sub")
    assert info.value.errno in (errno.ENOTDIR, errno.EEXIST)
